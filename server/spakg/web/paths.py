"""How two concepts are connected: the shortest chains of relations between them (either direction, subclass links
included), several where several are as short. A chain through an upper class of the ontology ("clinical finding",
"disease": a root of the hierarchy) says nothing a student can use, so such classes are stepped through only when
asked or when no other chain exists."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from ..concepts import Concept, ConceptIndex, PathStep

MAX_PATHS = 5
MAX_EXTRA_STEPS = 1  # chains one step longer than the shortest are shown too, after it


def generic(c: Concept) -> bool:
    """An upper class: a root of the hierarchy with subclasses."""
    return not c.parents and bool(c.children)


def steps_from(index: ConceptIndex, c: Concept) -> Iterator[PathStep]:
    for p in c.parents:
        yield PathStep(c, "is a kind of", p, index.subclass_sources.get((c.id, p.id), []))
    for ch in c.children:
        yield PathStep(c, "has subtype", ch, index.subclass_sources.get((ch.id, c.id), []))
    for r in c.outgoing:
        yield PathStep(c, r.label, r.object, r.sources)
    for r in c.incoming:
        yield PathStep(c, r.inverse_label, r.subject, r.sources)


def _distances(index: ConceptIndex, goal: Concept, allowed) -> dict[str, int]:
    """Steps from each concept to the goal, through allowed concepts only (relations are walked both ways, so the
    distance to the goal is the distance from it)."""
    dist = {goal.id: 0}
    queue = deque([goal])
    while queue:
        node = queue.popleft()
        for step in steps_from(index, node):
            nxt = step.target
            if nxt.id not in dist and allowed(nxt):
                dist[nxt.id] = dist[node.id] + 1
                queue.append(nxt)
    return dist


def paths(index: ConceptIndex, start: Concept, goal: Concept, through_generic: bool = False) -> list[list[PathStep]]:
    """Up to MAX_PATHS simple chains from start to goal, shortest first; [[]] when they are the same concept and []
    when nothing connects them. Upper classes are avoided unless ``through_generic`` or no chain avoids them."""
    if start is goal:
        return [[]]
    found = _paths(index, start, goal, through_generic)
    if not found and not through_generic:
        found = _paths(index, start, goal, True)
    return found


def _paths(index: ConceptIndex, start: Concept, goal: Concept, through_generic: bool) -> list[list[PathStep]]:
    def allowed(c: Concept) -> bool:
        return through_generic or c is start or c is goal or not generic(c)

    dist = _distances(index, goal, allowed)
    if start.id not in dist:
        return []
    out: list[list[PathStep]] = []
    chain: list[PathStep] = []
    on_chain = {start.id}

    def walk(node: Concept, left: int) -> None:  # chains of exactly ``left`` more steps
        for step in steps_from(index, node):
            nxt = step.target
            if len(out) >= MAX_PATHS or nxt.id in on_chain or dist.get(nxt.id, left) > left - 1:
                continue
            chain.append(step)
            if nxt is goal:
                if left == 1:
                    out.append(list(chain))
            else:
                on_chain.add(nxt.id)
                walk(nxt, left - 1)
                on_chain.discard(nxt.id)
            chain.pop()

    for length in range(dist[start.id], dist[start.id] + MAX_EXTRA_STEPS + 1):
        walk(start, length)
    return out
