"""Safe reload for ``spakg serve --watch``: an edit of the ontology is served only once ``spakg check`` finds no
error in it. A refused edit leaves the last good version serving, and says why (log and ``lastReloadError``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..checks import Report, run_checks
from ..knowledge import ONTOLOGY_GLOB
from .holder import KnowledgeHolder

log = logging.getLogger("spakg.reload")


@dataclass
class WatchSettings:
    directory: Path
    competency_dir: Path | None = None
    skip: tuple[str, ...] = ()
    debounce_ms: int = 800  # Protégé and most editors write a file in one go; a burst of saves is one reload
    poll_seconds: float = 1.0  # how often the directory itself is checked for having been replaced


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
                # served to anyone who asks: the directory by its name, not the server's filesystem path
                directory = self.settings.directory
                holder.last_error = report.summary().replace(str(directory.resolve()), directory.name) \
                    .replace(str(directory), directory.name)
                log.error("ontology edit refused; still serving %s (%s…):\n%s", current.version,
                          current.content_hash[:12], report.as_text())
                return False
            knowledge = report.knowledge
            assert knowledge is not None
            knowledge.facts.max_findings = current.facts.max_findings
            holder.current = knowledge
            holder.last_error = None
            self.reloads += 1
            log.info("ontology reloaded: version %s, content sha256 %s… (%s)", knowledge.version,
                        knowledge.content_hash[:12], report.summary())
            return True

    async def run(self, stop: asyncio.Event) -> None:
        """Watch the directory until ``stop``. A directory deleted and made again (a `git checkout`, a copy over it)
        is a new inode the old watch cannot see: it is noticed by polling its identity, watched anew and re-checked."""
        directory = self.settings.directory
        log.info("watching %s for ontology edits", directory)
        served = _identity(directory)  # the directory whose content is serving
        while not stop.is_set():
            identity = _identity(directory)
            if identity is None:  # gone for now: wait for it to come back
                await _sleep_unless(stop, self.settings.poll_seconds)
                continue
            halt = asyncio.Event()
            watching = asyncio.create_task(self._watch(directory, halt))
            if identity != served:  # watched first, then checked: an edit made meanwhile is not missed
                log.info("%s was replaced; watching the new directory", directory)
                await self.reload()
                served = identity
            while not stop.is_set() and _identity(directory) == identity:
                await _sleep_unless(stop, self.settings.poll_seconds)
            halt.set()
            await watching

    async def _watch(self, directory: Path, halt: asyncio.Event) -> None:
        from watchfiles import awatch  # imported late: only --watch needs it

        try:
            async for changes in awatch(directory, watch_filter=_is_ontology_file, debounce=self.settings.debounce_ms,
                                        stop_event=halt, recursive=False):
                log.info("ontology files changed: %s", ", ".join(sorted(Path(p).name for _, p in changes)))
                await self.reload()
        except (FileNotFoundError, RuntimeError) as exc:  # the directory went away under the watch
            log.warning("watch of %s ended: %s", directory, type(exc).__name__)


def _identity(directory: Path) -> tuple[int, int] | None:
    try:
        st = directory.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def _is_ontology_file(_change: object, path: str) -> bool:
    return Path(path).match(ONTOLOGY_GLOB)  # the modules and shapes.ttl; editors' backup files are not *.ttl
