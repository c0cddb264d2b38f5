"""Load the ontology directory once and compile everything the service needs from it."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

from rdflib import Graph

from .article import Article
from .concepts import ConceptIndex
from .errors import OntologyError
from .facts import FactSpace
from .namespaces import OWL, PREFIXES, RDF
from .provenance import ProvenanceIndex
from .resources import article_path, default_ontology_dir
from .rules import RuleBook

ONTOLOGY_GLOB = "*.ttl"
SHAPES_FILE = "shapes.ttl"  # SHACL shapes live beside the ontology but are not part of it


def ontology_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob(ONTOLOGY_GLOB) if p.name != SHAPES_FILE)


def content_hash(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in ontology_files(directory):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def parse_ontology(directory: Path) -> Graph:
    graph = Graph()
    for prefix, ns in PREFIXES.items():
        graph.bind(prefix, ns)
    files = ontology_files(directory)
    if not files:
        raise OntologyError(f"No Turtle files (*.ttl) in {directory}.")
    for path in files:
        try:
            graph.parse(path, format="turtle")
        except Exception as exc:  # rdflib's parser errors have no common base class
            raise OntologyError(f"{path.name} does not parse as Turtle: {exc}", entity=path.name) from None
    return graph


@dataclass
class Knowledge:
    directory: Path
    graph: Graph
    content_hash: str
    version: str
    version_iri: str
    article: Article
    provenance: ProvenanceIndex
    concepts: ConceptIndex
    facts: FactSpace
    rules: RuleBook
    disclaimer: str
    load_seconds: float

    @classmethod
    def load(cls, directory: Path | str | None = None, max_findings: int = 200) -> Knowledge:
        started = time.perf_counter()
        directory = Path(directory) if directory is not None else default_ontology_dir()
        graph = parse_ontology(directory)
        provenance = ProvenanceIndex(graph)
        concepts = ConceptIndex(graph, provenance)
        facts = FactSpace(concepts, graph, max_findings=max_findings)
        rules = RuleBook(graph, concepts, facts, provenance)
        ontology = next(iter(graph.subjects(RDF.type, OWL.Ontology)), None)
        main = next((o for o in graph.subjects(RDF.type, OWL.Ontology) if graph.value(o, OWL.versionIRI)), ontology)
        return cls(
            directory=directory, graph=graph, content_hash=content_hash(directory),
            version=str(graph.value(main, OWL.versionInfo) or "unversioned"),
            version_iri=str(graph.value(main, OWL.versionIRI) or main or ""),
            article=Article.load(article_path()), provenance=provenance, concepts=concepts, facts=facts,
            rules=rules, disclaimer=provenance.disclaimer(graph), load_seconds=time.perf_counter() - started,
        )
