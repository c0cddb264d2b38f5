"""Cohort reports for the explorer: the JSON files `spakg screen --report-json` writes, found in one directory
(`spakg serve --reports DIR`). Only the directory's own ``*.json`` files are ever read, by the name they are listed
under; each is read once per change of its size or time, and one that cannot be read says why instead of failing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..cohort_report import CohortReport

MAX_BYTES = 4 * 1024 * 1024  # a report of a few hundred rules is some kilobytes; anything this large is not one
MAX_FILES = 500


@dataclass(frozen=True)
class Shelved:
    name: str                        # the file name, which is also its address: /cohorts/<name>
    modified: datetime
    report: CohortReport | None
    problem: str | None              # why it could not be read, when it could not


class ReportShelf:
    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._cache: dict[str, tuple[tuple[int, int], Shelved]] = {}

    @property
    def configured(self) -> bool:
        return self.directory is not None

    def names(self) -> list[str]:
        if self.directory is None or not self.directory.is_dir():
            return []
        inside = self.directory.resolve()  # a symlink to a file elsewhere is not the directory's: never served
        return sorted(p.name for p in self.directory.glob("*.json")
                      if p.is_file() and p.resolve().is_relative_to(inside))[:MAX_FILES]

    def all(self) -> list[Shelved]:
        """Every report, the newest first."""
        found = [self._read(name) for name in self.names()]  # listed once, not once per file
        return sorted((s for s in found if s is not None), key=lambda s: s.modified, reverse=True)

    def get(self, name: str) -> Shelved | None:
        """The report listed under ``name``; None for any other name (so no path ever leaves the directory)."""
        return self._read(name) if name in self.names() else None

    def _read(self, name: str) -> Shelved | None:
        """A listed file, read (again only when its time or size changed); None if it went away meanwhile."""
        path = self.directory / name  # type: ignore[operator]
        try:
            stat = path.stat()
        except OSError:
            return None
        key = (stat.st_mtime_ns, stat.st_size)
        cached = self._cache.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]
        modified = datetime.fromtimestamp(stat.st_mtime, UTC)
        report, problem = None, None
        if stat.st_size > MAX_BYTES:
            problem = f"it is {stat.st_size / 1024 / 1024:.1f} MiB; a cohort report is far smaller"
        else:
            try:
                report = CohortReport.from_dict(json.loads(path.read_bytes()))
            except (OSError, ValueError) as exc:  # json's errors are ValueErrors too
                problem = str(exc)[:300]
        shelved = Shelved(name, modified, report, problem)
        self._cache[name] = (key, shelved)
        return shelved
