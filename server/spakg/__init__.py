"""spakg — the spondyloarthritis knowledge graph: ontology, criteria as RDF rules, a reasoner with proofs."""

__version__ = "0.1.0"
