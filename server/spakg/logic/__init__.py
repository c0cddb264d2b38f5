"""The OWL fragment spakg reasons with, compiled into an exact propositional closure over a patient's facts."""

from .axioms import FRAGMENT, Axiom, AxiomSet, read_axioms
from .closure import Closure, Inconsistent, bit_indices
from .expressions import Named, Some

__all__ = ["FRAGMENT", "Axiom", "AxiomSet", "Closure", "Inconsistent", "Named", "Some", "bit_indices", "read_axioms"]
