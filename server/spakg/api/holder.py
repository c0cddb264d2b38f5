"""The knowledge being served, in one place both the app (which reads it per request) and the ``--watch`` reloader
(which swaps it) hold: below both, so neither imports the other."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..knowledge import Knowledge


@dataclass
class KnowledgeHolder:
    """The knowledge being served; a reload swaps ``current`` atomically, a refused edit sets ``last_error``."""

    current: Knowledge
    last_error: str | None = None
    serialized: dict[str, str] = field(default_factory=dict)


__all__ = ["KnowledgeHolder"]
