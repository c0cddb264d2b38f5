"""No two classes share a label or a synonym: a name must lead a reader (and the API's lookups) to one class."""

from __future__ import annotations

from ..namespaces import RDFS, SKOS
from ..shapes import curie
from .base import Check, CheckContext, CheckResult
from .labels import own_classes


def _key(name: str) -> str:
    return " ".join(name.casefold().split())


class UniqueNames(Check):
    id = "unique-names"
    title = "no two classes share a label or synonym"

    def run(self, ctx: CheckContext, result: CheckResult) -> None:
        graph = ctx.graph
        owner: dict[str, tuple[str, str]] = {}  # normalised name -> (class, how it names it)
        names = 0
        for cls in own_classes(graph):
            for prop, how in ((RDFS.label, "label"), (SKOS.altLabel, "synonym")):
                for value in sorted(graph.objects(cls, prop)):
                    names += 1
                    key = _key(str(value))
                    first = owner.setdefault(key, (curie(cls), how))
                    if first[0] != curie(cls):
                        result.error(curie(cls), f"'{value}' is the {how} of {curie(cls)} and also the {first[1]} of "
                                                 f"{first[0]}.",
                                     f"If {curie(cls)} and {first[0]} are one concept, merge them; otherwise give each "
                                     f"its own wording and keep the shared word as a synonym of one class only.")
        result.examined = f"{names} labels and synonyms"
