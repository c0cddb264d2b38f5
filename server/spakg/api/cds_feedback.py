"""CDS Hooks 2.0 feedback (``POST /cds-services/{id}/feedback``): what clinicians did with spakg's cards, counted in
memory (per server process, since its start) and shown at /healthz.

Nothing of the patient is kept, nor the card or suggestion uuids, nor a clinician's free-text comment (it may name
the patient): only how many cards were accepted or overridden, how many suggestions were accepted, and how often each
of the override reasons spakg offers was chosen. The body is checked as the specification has it
(``{"feedback": [{card, outcome, acceptedSuggestions, overrideReason, outcomeTimestamp}]}``) and counted only whole.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from datetime import datetime

from ..fhir.override_reasons import OVERRIDE_REASONS, OVERRIDE_SYSTEM

MAX_ITEMS = 100  # feedback items in one request


class FeedbackError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = 400, "INVALID_FEEDBACK", message



class FeedbackCounters:
    """Counts of the feedback received; ``record`` checks a whole request first and counts it, or counts nothing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.outcomes: Counter[str] = Counter()
        self.accepted_suggestions = 0
        self.reasons: Counter[str] = Counter()
        self.comments = 0

    def record(self, body: object) -> int:
        items = _checked(body)
        with self._lock:
            self.requests += 1
            for item in items:
                self.outcomes[item["outcome"]] += 1
                self.accepted_suggestions += len(item.get("acceptedSuggestions", ()))
                reason = item.get("overrideReason") or {}
                coding = reason.get("reason")
                if coding is not None:
                    known = coding["system"] == OVERRIDE_SYSTEM and coding["code"] in dict(OVERRIDE_REASONS)
                    self.reasons[coding["code"] if known else "other"] += 1
                if reason.get("userComment"):
                    self.comments += 1
        return len(items)

    def as_dict(self) -> dict:
        with self._lock:
            return {"requests": self.requests, "accepted": self.outcomes["accepted"],
                    "overridden": self.outcomes["overridden"], "acceptedSuggestions": self.accepted_suggestions,
                    "overrideReasons": {code: self.reasons[code] for code, _ in (*OVERRIDE_REASONS, ("other", ""))},
                    "withComment": self.comments}


def _checked(body: object) -> list[Mapping]:
    if not isinstance(body, Mapping) or not isinstance(body.get("feedback"), list) or not body["feedback"]:
        raise FeedbackError('A feedback request is a JSON object {"feedback": [...]} with at least one item '
                            "(CDS Hooks 2.0, Feedback).")
    items = body["feedback"]
    if len(items) > MAX_ITEMS:
        raise FeedbackError(f"At most {MAX_ITEMS} feedback items in one request (got {len(items)}).")
    for i, item in enumerate(items):
        where = f"feedback[{i}]"
        if not isinstance(item, Mapping):
            raise FeedbackError(f"{where} must be an object.")
        if not _text(item.get("card")):
            raise FeedbackError(f"{where}.card is required: the card's uuid.")
        outcome = item.get("outcome")
        if outcome not in ("accepted", "overridden"):
            raise FeedbackError(f"{where}.outcome must be 'accepted' or 'overridden' (got {str(outcome)[:30]!r}).")
        _timestamp(item.get("outcomeTimestamp"), where)
        accepted = item.get("acceptedSuggestions")
        if outcome == "accepted":
            if not isinstance(accepted, list) or not accepted or \
                    not all(isinstance(s, Mapping) and _text(s.get("id")) for s in accepted):
                raise FeedbackError(f"{where}.acceptedSuggestions is required for an accepted outcome: "
                                    '[{"id": <suggestion uuid>}, ...].')
        elif accepted is not None:
            raise FeedbackError(f"{where}: acceptedSuggestions goes with outcome 'accepted' only.")
        reason = item.get("overrideReason")
        if reason is not None:
            if outcome != "overridden" or not isinstance(reason, Mapping):
                raise FeedbackError(f"{where}.overrideReason is an object, and goes with outcome 'overridden' only.")
            coding = reason.get("reason")
            if coding is not None and not (isinstance(coding, Mapping) and _text(coding.get("code"))
                                           and _text(coding.get("system"))):
                raise FeedbackError(f"{where}.overrideReason.reason must be a Coding with code and system (one of the "
                                    "card's overrideReasons).")
            if "userComment" in reason and not isinstance(reason["userComment"], str):
                raise FeedbackError(f"{where}.overrideReason.userComment must be a string.")
    return items


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _timestamp(value: object, where: str) -> None:
    """RFC 3339 date-time with a time zone (the specification: UTC, e.g. 1985-04-12T23:20:50.52Z)."""
    ok = False
    if isinstance(value, str) and "T" in value.upper():
        try:
            ok = datetime.fromisoformat(value).tzinfo is not None
        except ValueError:
            ok = False
    if not ok:
        raise FeedbackError(f"{where}.outcomeTimestamp is required: an RFC 3339 date-time with its zone, e.g. "
                            "2026-12-02T10:05:31Z.")
