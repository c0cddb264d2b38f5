"""Assess a FHIR Bundle: read it, then assess the facts it states like any patient, keeping where each came from."""

from __future__ import annotations

from datetime import date

from ..assessment import Assessment
from ..errors import ContradictoryFacts, SpakgError
from ..knowledge import Knowledge
from .reader import FhirReading


def assess_bundle(knowledge: Knowledge, bundle: object, as_of: date | None = None) -> Assessment:
    return assess_reading(knowledge, knowledge.fhir.read(bundle, as_of))


def assess_reading(knowledge: Knowledge, reading: FhirReading) -> Assessment:
    """The assessment of what a Bundle was read as; an error names the resources behind the facts at fault."""
    try:
        facts = knowledge.facts.read(reading.record)
    except ContradictoryFacts as e:
        refs = sorted({r for concept, _, rs in reading.stated() if concept in e.message for r in rs})
        raise ContradictoryFacts(f"{e.message} Stated by {', '.join(refs)}." if refs else e.message,
                                 **e.details, resources=refs) from None
    except SpakgError as e:
        e.details.setdefault("resources", sorted({r for rs in reading.origins for r in rs}))
        raise
    return Assessment(knowledge, facts, origin=reading)
