"""``spakg check``: is an edited ontology fit to serve? One module per check; each writes its own findings."""

from .base import Check, CheckContext, CheckResult, Finding, Severity
from .report import Report
from .runner import CHECK_IDS, CHECKS, run_checks

__all__ = ["CHECKS", "CHECK_IDS", "Check", "CheckContext", "CheckResult", "Finding", "Report", "Severity", "run_checks"]
