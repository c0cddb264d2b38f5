"""The reasons a clinician may give for overriding a CDS card: offered on every card (``fhir.cards``) and counted
when fed back (``api.cds_feedback``). Here, below both, so that the cards need nothing of the HTTP layer."""

from __future__ import annotations

OVERRIDE_SYSTEM = "https://w3id.org/spakg/cds-override-reason"
# Offered on every card (CDS Hooks: an array of Coding, each with a display). The clinician's reasons, not the rules':
# they say why advice was not taken, so they need no source.
OVERRIDE_REASONS = (
    ("already-known", "Already assessed or referred"),
    ("record-incomplete", "The record is incomplete or out of date"),
    ("clinical-judgement", "Clinical judgement differs"),
    ("patient-declined", "Patient declined"),
    ("not-relevant", "Not relevant to this visit"),
)


def override_reasons() -> list[dict]:
    """The card's ``overrideReasons``: Codings with a display, as the specification requires."""
    return [{"system": OVERRIDE_SYSTEM, "code": code, "display": display} for code, display in OVERRIDE_REASONS]
