"""Issue 5: editing in Protégé. The edit file imports every module and the catalog resolves each import to its file;
an open/save round trip through owlready2 keeps every check green and every outcome unchanged; a rule written the
way Protégé writes one (named individuals, typed literals) compiles and decides."""

from __future__ import annotations

import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import owlready2
import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.compare import isomorphic

from spakg.assessment import Assessment
from spakg.checks import CHECK_IDS, run_checks
from spakg.knowledge import SHAPES_FILE, Knowledge, ontology_files
from spakg.namespaces import OWL, RDF
from spakg.regress import compare
from spakg.resources import competency_dir, vignettes_dir
from spakg.vignettes import load_vignettes

EDIT_FILE = "spakg-edit.ttl"
CATALOG = "{urn:oasis:names:tc:entity:xmlns:xml:catalog}"
XSD_STRING = URIRef("http://www.w3.org/2001/XMLSchema#string")


def ontology_iri(path: Path) -> str:
    [iri] = Graph().parse(path, format="turtle").subjects(RDF.type, OWL.Ontology)
    return str(iri)


def test_the_edit_file_imports_every_module_and_the_catalog_finds_each_offline(ontology_copy):
    catalog = {e.get("name"): e.get("uri") for e in ET.parse(ontology_copy / "catalog-v001.xml").getroot()
               .iter(f"{CATALOG}uri")}
    modules = {ontology_iri(p): p.name for p in ontology_files(ontology_copy) if p.name != EDIT_FILE}
    assert catalog == modules  # every module mapped to its own file, and nothing else
    imports = {str(o) for o in Graph().parse(ontology_copy / EDIT_FILE, format="turtle").objects(None, OWL.imports)}
    assert imports == set(modules)
    assert SHAPES_FILE not in catalog.values()  # SHACL is not OWL: Protégé does not load it


def _plain(graph: Graph) -> Graph:
    """RDF 1.1: "x"^^xsd:string and "x" are one literal. OWLAPI and owlready2 write the first, rdflib keeps them apart."""
    out = Graph()
    for s, p, o in graph:
        out.add((s, p, Literal(str(o)) if isinstance(o, Literal) and o.datatype == XSD_STRING else o))
    return out


def owlready2_round_trip(path: Path) -> Graph:
    """Open a module in owlready2 and save it again, as an editor would."""
    with tempfile.TemporaryDirectory() as tmp:
        source, saved = Path(tmp) / "in.nt", Path(tmp) / "out.nt"
        Graph().parse(path, format="turtle").serialize(source, format="nt", encoding="utf-8")
        onto = owlready2.World().get_ontology(source.as_uri()).load(format="ntriples")
        onto.save(file=str(saved), format="ntriples")
        return Graph().parse(saved, format="nt")


def test_owlready2_open_and_save_of_every_module_keeps_the_checks_green(ontology_copy, knowledge):
    # The edit file is only a header with owl:imports, which owlready2 would fetch from the web (it reads no catalog);
    # what it imports is every module below.
    modules = [p for p in ontology_files(ontology_copy) if p.name != EDIT_FILE]
    catalog = {e.get("uri") for e in ET.parse(ontology_copy / "catalog-v001.xml").getroot() if e.get("uri")}
    assert {p.name for p in modules} == catalog and len(modules) >= 6  # valuesets.ttl among them
    for path in modules:
        before = Graph().parse(path, format="turtle")
        after = owlready2_round_trip(path)
        assert any(o.datatype == XSD_STRING for o in after.objects() if isinstance(o, Literal)), "literals came back typed"
        assert isomorphic(_plain(before), _plain(after)), path.name
        after.serialize(path, format="turtle", encoding="utf-8")
    report = run_checks(ontology_copy, competency_dir=competency_dir())  # HermiT included
    assert [(r.id, r.status) for r in report.results] == [(c, "passed") for c in CHECK_IDS], report.as_text()
    moved = compare(knowledge, report.knowledge, load_vignettes(vignettes_dir()), "as shipped", "round-tripped")
    assert moved.changed == []


PROTEGE_STYLE_RULE = """@prefix : <https://w3id.org/spakg/> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix rule: <https://w3id.org/spakg/rule/> .
@prefix pt: <https://w3id.org/spakg/patient/> .
@prefix dcterms: <http://purl.org/dc/terms/> .

<https://w3id.org/spakg/ontology/demo> rdf:type owl:Ontology .

###  https://w3id.org/spakg/DemoButtockNightRule
:DemoButtockNightRule rdf:type owl:NamedIndividual , rule:ArticlePattern ;
    rule:concludes :InflammatoryBackPain ;
    rule:item :Demo-buttock , :Demo-night ;
    rule:requires :Demo-chronic ;
    rule:threshold "2"^^xsd:integer ;
    rule:thresholdBasis "curators' decision: a demonstration that both items are needed."^^xsd:string ;
    dcterms:bibliographicCitation "Demonstration only; no clinical source."^^xsd:string ;
    rdfs:label "demo: alternating buttock pain with night pain"^^xsd:string .

:Demo-buttock rdf:type owl:NamedIndividual , rule:FindingItem ;
    rule:finding :AlternatingButtockPain ; rule:order "1"^^xsd:integer ;
    rdfs:label "alternating buttock pain"^^xsd:string .
:Demo-night rdf:type owl:NamedIndividual , rule:FindingItem ;
    rule:finding :NightPain ; rule:order "2"^^xsd:integer ;
    rdfs:label "night pain"^^xsd:string .
:Demo-chronic rdf:type owl:NamedIndividual , rule:FindingItem ;
    rule:finding :BackPain ; rule:compare :Demo-chronic-duration ;
    rdfs:label "back pain for 3 months or more"^^xsd:string .
# Protégé cannot author an inline [ ... ] annotation value: a comparison is a named individual instead.
:Demo-chronic-duration rdf:type owl:NamedIndividual , rule:Comparison ;
    rule:quantity pt:durationMonths ; rule:atLeast "3"^^xsd:integer ;
    rdfs:label "duration ≥ 3 months"^^xsd:string .
"""


@pytest.mark.parametrize("months, expected", [(6, 2), (2, 0)])
def test_a_rule_written_as_protege_writes_it_compiles_and_decides(ontology_copy, months, expected):
    (ontology_copy / "demo.ttl").write_text(PROTEGE_STYLE_RULE, encoding="utf-8")
    report = run_checks(ontology_copy, skip=["hermit"], competency_dir=competency_dir())
    assert report.ok, report.as_text()
    k: Knowledge = report.knowledge
    rule = k.rules.get("DemoButtockNightRule")
    assert rule.needed == 2 and [(c.quantity, c.op, c.value) for c in rule.requires[0].comparisons] == [("durationMonths", "atLeast", 3.0)]
    facts = k.facts.patient([{"concept": "BackPain", "durationMonths": months}, {"concept": "AlternatingButtockPain"},
                             {"concept": "NightPain"}])
    assert Assessment(k, facts).statuses[k.rules.order.index(rule)] == expected
