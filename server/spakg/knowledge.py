"""Load the ontology directory once and compile everything the service needs from it."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from rdflib import Graph, URIRef

from .article import Article
from .concepts import ConceptIndex
from .effort import Effort
from .errors import InvalidFacts, OntologyError, OntologyProblems
from .facts import FactSpace, PatientFacts, parse_patient_rdf
from .fhir.codes import CodeBook
from .fhir.reader import BundleReader
from .logic import read_axioms
from .namespaces import DCTERMS, OWL, PREFIXES, RDF, SKOS
from .provenance import ProvenanceIndex
from .resources import article_path, default_ontology_dir
from .rules import RuleBook
from .scores import ScoreBook
from .shapes import load_shapes, validate

ONTOLOGY_GLOB = "*.ttl"
SHAPES_FILE = "shapes.ttl"  # SHACL shapes live beside the ontology but are not part of it


def ontology_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob(ONTOLOGY_GLOB) if p.name != SHAPES_FILE)


@dataclass(frozen=True)
class OntologySnapshot:
    """The ontology files' bytes, read once: the content hash and the parsed graph come from the same bytes, so an
    edit landing halfway through a load (``serve --watch``) cannot give a graph that disagrees with its hash."""

    directory: Path
    files: dict[str, bytes]

    @classmethod
    def read(cls, directory: Path | str) -> OntologySnapshot:
        directory = Path(directory).resolve()
        if not directory.is_dir():
            raise OntologyError(f"{directory} is not a directory.", entity=str(directory),
                                fix="Give --ontology the directory that holds the ontology's *.ttl files.")
        files = {path.name: path.read_bytes() for path in ontology_files(directory)}
        if not files:
            raise OntologyError(f"No Turtle files (*.ttl) in {directory}.", entity=str(directory),
                                fix="Point --ontology at the directory that holds spakg.ttl and its modules.")
        return cls(directory, files)

    @cached_property
    def content_hash(self) -> str:
        digest = hashlib.sha256()
        for name, data in self.files.items():  # sorted by name when read
            digest.update(name.encode() + b"\0" + data + b"\0")
        return digest.hexdigest()

    def parse_file(self, name: str, graph: Graph | None = None) -> Graph:
        graph = graph if graph is not None else Graph()
        try:
            text = self.files[name].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise OntologyError(f"{name} is not UTF-8 text ({exc}).", entity=name,
                                fix="Save the file as UTF-8 (Protégé and most editors do by default).") from None
        try:
            graph.parse(data=text, format="turtle", publicID=(self.directory / name).as_uri())
        except Exception as exc:  # rdflib's parser errors have no common base class
            raise OntologyError(f"{name} does not parse as Turtle: {exc}", entity=name,
                                fix="Correct the Turtle syntax at the place the parser names (a missing '.' or ';' "
                                    "at the end of a statement is the usual cause).") from None
        return graph

    def parse(self, on_error: Callable[[OntologyError], None] | None = None) -> Graph:
        """Every module into one graph. A file that does not parse raises, or, given ``on_error``, is reported there
        and the others are still parsed (so ``spakg check`` names every broken file at once)."""
        graph = Graph()
        for prefix, ns in PREFIXES.items():
            graph.bind(prefix, ns)
        for name in self.files:
            try:
                self.parse_file(name, graph)
            except OntologyError as err:
                if on_error is None:
                    raise
                on_error(err)
        return graph


def parse_ontology(directory: Path) -> Graph:
    return OntologySnapshot.read(directory).parse()


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
    scores: ScoreBook
    effort: Effort
    disclaimer: str
    load_seconds: float
    fhir: BundleReader  # reads FHIR Bundles with this ontology's codes (ontology/fhir.ttl)
    files: dict[str, bytes] = field(default_factory=dict)  # each module's bytes: the SPARQL endpoint's named graphs

    @classmethod
    def load(cls, directory: Path | str | None = None, max_findings: int = 200) -> Knowledge:
        started = time.perf_counter()
        snapshot = OntologySnapshot.read(directory if directory is not None else default_ontology_dir())
        return cls.compile(snapshot, snapshot.parse(), max_findings=max_findings, started=started)

    @classmethod
    def compile(cls, snapshot: OntologySnapshot, graph: Graph, max_findings: int = 200,
                started: float | None = None) -> Knowledge:
        """Build every index from a parsed snapshot; raises OntologyProblems listing every axiom the fact closure
        cannot honour and every broken rule. ``started``: when reading began, so that ``load_seconds`` counts
        parsing too."""
        started = time.perf_counter() if started is None else started
        provenance = ProvenanceIndex(graph)
        concepts = ConceptIndex(graph, provenance)
        axioms = read_axioms(graph)
        problems: list[OntologyError] = list(axioms.problems)
        facts = FactSpace(concepts, graph, axioms, max_findings=max_findings)
        try:
            rules = RuleBook(graph, concepts, facts, provenance)
        except OntologyProblems as err:
            problems.extend(err.problems)
        try:
            codes = CodeBook.compile(graph, concepts, facts.quantities)
        except OntologyProblems as err:
            problems.extend(err.problems)
        if problems:
            raise OntologyProblems(problems)
        ontology = next(iter(graph.subjects(RDF.type, OWL.Ontology)), None)
        main = next((o for o in graph.subjects(RDF.type, OWL.Ontology) if graph.value(o, OWL.versionIRI)), ontology)
        return cls(
            directory=snapshot.directory, graph=graph, content_hash=snapshot.content_hash,
            version=str(graph.value(main, OWL.versionInfo) or "unversioned"),
            version_iri=str(graph.value(main, OWL.versionIRI) or main or ""),
            article=Article.load(article_path()), provenance=provenance, concepts=concepts, facts=facts,
            rules=rules, scores=_score_book(graph, facts, rules), effort=Effort(graph, concepts),
            disclaimer=provenance.disclaimer(graph),
            load_seconds=time.perf_counter() - started,
            fhir=BundleReader(facts, codes), files=snapshot.files,
        )

    @cached_property
    def shapes(self) -> Graph | None:
        """The SHACL shapes beside the ontology (read on first use: only RDF patient input needs them here)."""
        return load_shapes(self.directory, SHAPES_FILE)

    def patients_from_rdf(self, data: str, fmt: str) -> list[PatientFacts]:
        """Patients in Turtle or JSON-LD, checked against the patient-fact shapes before they are read, so that a
        malformed fact ("no" for a boolean, two concepts on one finding) is refused rather than guessed at."""
        graph = parse_patient_rdf(data, fmt)
        problems = [v for v in validate(graph, self.shapes) if v.severe] if self.shapes is not None else []
        if problems:
            raise InvalidFacts(
                f"The patient facts do not fit the patient-fact vocabulary ({len(problems)} problem"
                f"{'s' * (len(problems) != 1)}): " + "; ".join(v.text.rstrip(".") for v in problems) +
                ". Write each finding as [ pt:concept spakg:SomeClass ; pt:present true|false ; pt:ageAtOnset 27 ].",
                violations=[v.text for v in problems])
        return self.facts.patients_from_graph(graph)


def _score_book(graph: Graph, facts: FactSpace, rules: RuleBook) -> ScoreBook:
    nodes = {q.name: URIRef(q.iri) for q, _ in facts.scores}
    return ScoreBook(facts, rules,
                     {n: tuple(sorted(str(c) for c in graph.objects(node, DCTERMS.bibliographicCitation)))
                      for n, node in nodes.items()},
                     {n: str(d) for n, node in nodes.items() if (d := graph.value(node, SKOS.definition)) is not None})
