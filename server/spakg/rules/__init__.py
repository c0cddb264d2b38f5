"""Criteria as RDF rules: compiled once from the ontology into plain functions, decided in three-valued logic, with
proofs built on demand from each patient's proof vector."""

from .items import (
    MET,
    NOT_MET,
    STATUS_NAMES,
    UNDETERMINED,
    Comparison,
    ConclusionItem,
    FindingItem,
    Group,
    Item,
    QuantityItem,
    Rule,
    Step,
)
from .proof import Proof
from .rulebook import RuleBook

__all__ = [
    "MET", "NOT_MET", "STATUS_NAMES", "UNDETERMINED",
    "Comparison", "ConclusionItem", "FindingItem", "Group", "Item", "Proof", "QuantityItem", "Rule", "RuleBook", "Step",
]
