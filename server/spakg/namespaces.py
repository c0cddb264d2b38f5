"""The RDF namespaces spakg reads and writes."""

from rdflib import Namespace
from rdflib.namespace import DCTERMS, OWL, PROV, RDF, RDFS, SKOS, XSD

SPAKG = Namespace("https://w3id.org/spakg/")
SRC = Namespace("https://w3id.org/spakg/source/")
RULE = Namespace("https://w3id.org/spakg/rule/")
PT = Namespace("https://w3id.org/spakg/patient/")
OA = Namespace("http://www.w3.org/ns/oa#")
OBOINOWL = Namespace("http://www.geneontology.org/formats/oboInOwl#")

PREFIXES = {
    "spakg": SPAKG, "src": SRC, "rule": RULE, "pt": PT, "oa": OA, "oboInOwl": OBOINOWL,
    "owl": OWL, "rdf": RDF, "rdfs": RDFS, "skos": SKOS, "dcterms": DCTERMS, "prov": PROV, "xsd": XSD,
}

__all__ = ["DCTERMS", "OA", "OBOINOWL", "OWL", "PREFIXES", "PROV", "PT", "RDF", "RDFS", "RULE", "SKOS", "SPAKG", "SRC", "XSD"]
