"""Where the embedded ontology and source article live, installed or in a checkout.

A wheel carries them as package data under ``spakg/_data``; an editable install or a plain checkout
reads them from the repository's top-level ``ontology/`` and ``seeds/``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_PACKAGED = _PACKAGE_DIR / "_data"
_CHECKOUT = _PACKAGE_DIR.parent.parent

ARTICLE_FILENAME = "inflammatory-back-pain.txt"


def _data_dir(name: str, in_checkout: str | None = None) -> Path:
    """``_data/<name>`` in a wheel, ``<in_checkout or name>`` at the top of a checkout."""
    candidates = (_PACKAGED / name, _CHECKOUT / (in_checkout or name))
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"spakg cannot find its {name}/ directory (looked in {', '.join(map(str, candidates))})")


def default_ontology_dir() -> Path:
    return _data_dir("ontology")


def seeds_dir() -> Path:
    return _data_dir("seeds")


def article_path() -> Path:
    return seeds_dir() / ARTICLE_FILENAME


def competency_dir() -> Path:
    """The competency questions (``*.rq`` with their expected answers)."""
    return _data_dir("competency", "queries/competency")


def vignettes_dir() -> Path:
    """The clinical vignettes (patient facts with the expected outcome of each rule)."""
    return _data_dir("vignettes", "tests/vignettes")
