"""The lines of a generated function as items write them (``Item.emit``): below the items and the compiler, which
both use it."""

from __future__ import annotations

from collections.abc import Mapping


class Code:
    def __init__(self, counts: bool = True, fixed: Mapping[int, tuple[float, float]] | None = None) -> None:
        self.lines: list[str] = []
        self.counts = counts  # whether groups must set their counts (m, p) too, or only their status
        self.fixed = fixed    # numbers known when compiling (a patient who gave none): comparisons become constants

    def line(self, text: str, indent: int = 1) -> None:
        self.lines.append("    " * indent + text)


__all__ = ["Code"]
