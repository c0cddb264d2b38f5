"""Safe reload for ``spakg serve --watch``: an edit of the ontology is served only once ``spakg check`` finds no
error in it. A refused edit leaves the last good version serving, and says why (log and ``lastReloadError``)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..checks import Report, run_checks
from ..knowledge import ONTOLOGY_GLOB

if TYPE_CHECKING:
    from .app import KnowledgeHolder  # app.py imports this module

log = logging.getLogger("spakg.reload")


@dataclass
class WatchSettings:
    directory: Path
    competency_dir: Path | None = None
    skip: tuple[str, ...] = ()
    debounce_ms: int = 800  # Protégé and most editors write a file in one go; a burst of saves is one reload


@dataclass
class OntologyWatcher:
    holder: KnowledgeHolder
    settings: WatchSettings
    reloads: int = 0
    refusals: int = 0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def check(self) -> Report:
        return run_checks(self.settings.directory, skip=self.settings.skip, competency_dir=self.settings.competency_dir)

    async def reload(self) -> bool:
        """Check the directory as it is now; serve it if fit, else keep the current version and record why."""
        async with self._lock:  # one check at a time; a later change is checked after this one
            report = await asyncio.to_thread(self.check)
            holder = self.holder
            current = holder.current
            if not report.ok:
                self.refusals += 1
                holder.last_error = report.summary()
                log.error("ontology edit refused; still serving %s (%s…):\n%s", current.version,
                          current.content_hash[:12], report.as_text())
                return False
            knowledge = report.knowledge
            assert knowledge is not None
            knowledge.facts.max_findings = current.facts.max_findings
            holder.current = knowledge
            holder.last_error = None
            self.reloads += 1
            log.warning("ontology reloaded: version %s, content sha256 %s… (%s)", knowledge.version,
                        knowledge.content_hash[:12], report.summary())
            return True

    async def run(self, stop: asyncio.Event) -> None:
        from watchfiles import awatch  # imported late: only --watch needs it

        directory = self.settings.directory
        log.warning("watching %s for ontology edits", directory)
        async for changes in awatch(directory, watch_filter=_is_ontology_file, debounce=self.settings.debounce_ms,
                                    stop_event=stop, recursive=False):
            log.info("ontology files changed: %s", ", ".join(sorted(Path(p).name for _, p in changes)))
            await self.reload()


def _is_ontology_file(_change: object, path: str) -> bool:
    return Path(path).match(ONTOLOGY_GLOB)  # the modules and shapes.ttl; editors' backup files are not *.ttl
