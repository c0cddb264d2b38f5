"""HTTP content negotiation: the media type to answer with, given an Accept header with q-values (RFC 9110 §12.5.1)."""

from __future__ import annotations


def accepted(header: str | None) -> list[tuple[str, float]]:
    """The media ranges of an Accept header with their q-values (1 when not given), in the order sent (the first 64:
    no client needs more, and a header of thousands must not cost thousands)."""
    ranges: list[tuple[str, float]] = []
    for part in (header or "").split(",")[:64]:
        media, *params = (p.strip() for p in part.split(";"))
        if not media:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(1.0, max(0.0, float(value)))
                except ValueError:
                    q = 0.0
        ranges.append((media.lower(), q))
    return ranges


def quality(media: str, ranges: list[tuple[str, float]]) -> tuple[float, int]:
    """The q-value the client gives ``media`` (from its most specific matching range) and how specific that range
    is: 2 exact, 1 ``type/*``, 0 ``*/*``; (0, -1) when nothing matches."""
    main = media.split("/")[0]
    best = (0.0, -1)
    for given, q in ranges:
        specificity = 2 if given == media else 1 if given == f"{main}/*" else 0 if given == "*/*" else -1
        if specificity > best[1]:
            best = (q, specificity)
    return best


def choose(header: str | None, offered: list[str], default: str) -> str | None:
    """The offered type the client prefers: no Accept header gives ``default``; the highest q wins, then the most
    specific range; among types the client names alike, the first offered; among types matched by the same wildcard,
    ``default``. None when the client accepts none."""
    ranges = accepted(header)
    if not ranges:
        return default
    scored = []
    for index, media in enumerate(offered):
        q, specificity = quality(media, ranges)
        if q > 0:
            scored.append((q, specificity, -index if specificity == 2 else int(media == default), media))
    return max(scored)[3] if scored else None
