"""``spakg regress``: for every vignette, which rule outcomes change between two versions of the ontology.

What a knowledge engineer reads before merging an edit: the older version is a directory or a git revision
(taken from the repository that holds the current ontology directory, with ``git archive``).
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SpakgError
from .knowledge import Knowledge
from .vignettes import Vignette


class RegressError(SpakgError):
    code = "REGRESS_FAILED"


@dataclass(frozen=True)
class Change:
    rule: str
    before: str | None  # None: the rule does not exist in that version
    after: str | None
    expected: str | None

    @property
    def verdict(self) -> str:
        if self.expected is None:
            return "no expectation"
        return "now as expected" if self.after == self.expected else "now differs from the expectation"


@dataclass
class VignetteChanges:
    vignette: Vignette
    changes: list[Change] = field(default_factory=list)
    error_before: str | None = None
    error_after: str | None = None


@dataclass
class RegressionReport:
    before: str  # what was compared: a directory or a revision
    after: str
    before_hash: str
    after_hash: str
    vignettes: list[VignetteChanges]

    @property
    def changed(self) -> list[VignetteChanges]:
        return [v for v in self.vignettes if v.changes or v.error_before != v.error_after]

    def as_dict(self) -> dict:
        return {
            "before": self.before, "after": self.after, "beforeHash": self.before_hash, "afterHash": self.after_hash,
            "vignettes": len(self.vignettes), "changed": len(self.changed),
            "changes": [{"vignette": v.vignette.id, "errorBefore": v.error_before, "errorAfter": v.error_after,
                         "rules": [{"rule": c.rule, "before": c.before, "after": c.after, "expected": c.expected,
                                    "verdict": c.verdict} for c in v.changes]} for v in self.changed],
        }

    def as_text(self) -> str:
        lines = [f"spakg regress: {self.before} ({self.before_hash[:12]}…) → {self.after} ({self.after_hash[:12]}…)",
                 f"{len(self.vignettes)} vignettes, {len(self.changed)} with changed outcomes", ""]
        for v in self.changed:
            lines.append(f"{v.vignette.id} — {v.vignette.title}")
            for label, error in (("before", v.error_before), ("after", v.error_after)):
                if error:
                    lines.append(f"    cannot assess {label}: {error}")
            for c in v.changes:
                lines.append(f"    {c.rule}: {c.before or 'absent'} → {c.after or 'absent'}   ({c.verdict})")
            lines.append("")
        if not self.changed:
            lines.append("No rule outcome changes for any vignette.")
        return "\n".join(lines).rstrip() + "\n"


def compare(before: Knowledge, after: Knowledge, vignettes: list[Vignette], before_name: str,
            after_name: str) -> RegressionReport:
    out = []
    for vignette in vignettes:
        entry = VignetteChanges(vignette)
        old, entry.error_before = _outcomes(vignette, before)
        new, entry.error_after = _outcomes(vignette, after)
        if old is not None and new is not None:
            for rule in sorted(set(old) | set(new)):
                if old.get(rule) != new.get(rule):
                    entry.changes.append(Change(rule, old.get(rule), new.get(rule), vignette.expect.get(rule)))
        out.append(entry)
    return RegressionReport(before_name, after_name, before.content_hash, after.content_hash, out)


def _outcomes(vignette: Vignette, knowledge: Knowledge) -> tuple[dict[str, str] | None, str | None]:
    try:
        return vignette.outcomes(knowledge), None
    except SpakgError as err:  # a vignette naming a class that version lacks is a change worth showing, not a crash
        return None, f"[{err.code}] {err.message}"


def ontology_at(reference: str, current: Path, workdir: Path) -> Path:
    """The ontology directory ``reference`` names: a directory as it is, or a git revision of ``current``'s repo."""
    path = Path(reference)
    if path.is_dir():
        return path
    current = current.resolve()
    try:
        top = Path(_git(current, "rev-parse", "--show-toplevel").decode().strip())
        relative = current.relative_to(top).as_posix()
        archive = _git(top, "archive", "--format=tar", reference, "--", relative)
    except (subprocess.CalledProcessError, FileNotFoundError, ValueError) as exc:
        detail = exc.stderr.decode().strip() if isinstance(exc, subprocess.CalledProcessError) and exc.stderr else exc
        raise RegressError(f"'{reference}' is neither a directory nor a git revision of the repository holding "
                           f"{current} ({detail}). Give --against a directory, or a revision such as HEAD or main.") from None
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(workdir, filter="data")
    return workdir / relative


def _git(where: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(where), *args], check=True, capture_output=True, timeout=60).stdout


def regress(against: str, current: Path, vignettes: list[Vignette]) -> RegressionReport:
    with tempfile.TemporaryDirectory(prefix="spakg-regress-") as tmp:
        before = Knowledge.load(ontology_at(against, current, Path(tmp)))
    return compare(before, Knowledge.load(current), vignettes, against, str(current))
