"""Criteria as RDF rules: compiled once from the ontology, evaluated in three-valued logic with proofs."""

from .items import MET, NOT_MET, STATUS_NAMES, UNDETERMINED, ConclusionItem, FindingItem, Group, Item, Rule, Step
from .rulebook import RuleBook

__all__ = [
    "MET", "NOT_MET", "STATUS_NAMES", "UNDETERMINED",
    "ConclusionItem", "FindingItem", "Group", "Item", "Rule", "RuleBook", "Step",
]
