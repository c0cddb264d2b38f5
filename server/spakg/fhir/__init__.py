"""FHIR R4 input: a Bundle of Patient, Condition and Observation resources read as a spakg patient."""

from .codes import CodeBook
from .reader import BundleReader, FhirReading, Remark

__all__ = ["BundleReader", "CodeBook", "FhirReading", "Remark"]
