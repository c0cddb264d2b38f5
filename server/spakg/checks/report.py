"""The check report: readable text for a person, JSON for tools, and the verdict (fit to serve or not)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .base import CheckResult, Finding

if TYPE_CHECKING:
    from ..knowledge import Knowledge

_MARK = {"passed": "ok", "warned": "warn", "failed": "FAIL", "skipped": "skip"}


def counted(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


@dataclass
class Report:
    directory: Path
    content_hash: str | None
    results: list[CheckResult]
    knowledge: Knowledge | None  # compiled by the rules check; None if it did not compile

    @property
    def errors(self) -> list[Finding]:
        return [f for r in self.results for f in r.errors]

    @property
    def warnings(self) -> list[Finding]:
        return [f for r in self.results for f in r.warnings]

    @property
    def ok(self) -> bool:
        """Fit to serve: no error. Warnings are for a person to read; a skipped check is not a pass, but the
        person who skipped it chose so."""
        return not self.errors and self.knowledge is not None

    def result(self, check_id: str) -> CheckResult:
        return next(r for r in self.results if r.id == check_id)

    def counts(self) -> str:
        return f"{counted(len(self.errors), 'error')}, {counted(len(self.warnings), 'warning')}"

    def summary(self) -> str:
        """One line: the verdict and the first error, for a log or ``ontology { lastReloadError }``."""
        counts = self.counts()
        if self.ok:
            return f"fit to serve ({counts})"
        first = self.errors[0] if self.errors else None
        detail = f": [{first.check}] {first.entity}: {first.message} Fix: {first.fix}" if first else ""
        return f"not fit to serve ({counts}){detail}"

    def as_dict(self) -> dict:
        return {
            "ok": self.ok, "directory": str(self.directory), "contentHash": self.content_hash,
            "errors": len(self.errors), "warnings": len(self.warnings),
            "checks": [{"id": r.id, "title": r.title, "status": r.status, "examined": r.examined,
                        "skipped": r.skipped, "seconds": round(r.seconds, 3),
                        "findings": [f.as_dict() for f in r.findings]} for r in self.results],
        }

    def as_text(self) -> str:
        short = (self.content_hash or "")[:12]
        lines = [f"spakg check {self.directory}" + (f"  (content sha256 {short}…)" if short else ""), ""]
        width = max(len(r.id) for r in self.results)
        for r in self.results:
            detail = r.skipped or r.examined
            counts = [counted(len(found), word) for found, word in ((r.errors, "error"), (r.warnings, "warning")) if found]
            tail = f"  — {', '.join(counts)}" if counts else ""
            timing = f"  {r.seconds:.2f} s" if r.skipped is None else ""
            lines.append(f"  {_MARK[r.status]:<4}  {r.id:<{width}}  {r.title}  [{detail}]{tail}{timing}")
        for heading, findings in (("Errors", self.errors), ("Warnings", self.warnings)):
            if findings:
                lines += ["", f"{heading}:"]
                for f in findings:
                    lines += [f"  [{f.check}] {f.entity}", f"      {f.message}", f"      fix: {f.fix}"]
        lines += ["", f"{'OK: fit to serve' if self.ok else 'NOT fit to serve'} — {self.counts()}."]
        return "\n".join(lines)
