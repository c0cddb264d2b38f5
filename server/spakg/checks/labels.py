"""Every class of ours has exactly one rdfs:label and exactly one skos:definition."""

from __future__ import annotations

from rdflib import URIRef

from ..namespaces import OWL, RDF, RDFS, SKOS, SPAKG
from ..shapes import curie
from .base import Check, CheckContext, CheckResult


def own_classes(graph) -> list[URIRef]:
    """Named classes in spakg's namespaces (core, rule and patient vocabularies); imported terms are not ours."""
    return sorted(c for c in set(graph.subjects(RDF.type, OWL.Class))
                  if isinstance(c, URIRef) and str(c).startswith(str(SPAKG)))


class LabelAndDefinition(Check):
    id = "labels"
    title = "every class has one label and one definition"

    def run(self, ctx: CheckContext, result: CheckResult) -> None:
        graph = ctx.graph
        classes = own_classes(graph)
        for cls in classes:
            for prop, name, what in ((RDFS.label, "rdfs:label", "label"), (SKOS.definition, "skos:definition", "definition")):
                values = sorted(str(v) for v in graph.objects(cls, prop))
                if not values:
                    result.error(curie(cls), f"{curie(cls)} has no {name}.",
                                 f"Add one {name}: the {what} a clinician or an educator would read.")
                elif len(values) > 1:
                    shown = "; ".join(repr(v) for v in values)
                    result.error(curie(cls), f"{curie(cls)} has {len(values)} {name}s: {shown}.",
                                 f"Keep one {name}; other names the article uses go in skos:altLabel." if what == "label"
                                 else "Keep one skos:definition; merge the others into it or move them to skos:editorialNote.")
        result.examined = f"{len(classes)} classes"
