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


def _data_dir(name: str) -> Path:
    for base in (_PACKAGED, _CHECKOUT):
        candidate = base / name
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"spakg cannot find its {name}/ directory (looked in {_PACKAGED} and {_CHECKOUT})")


def default_ontology_dir() -> Path:
    return _data_dir("ontology")


def seeds_dir() -> Path:
    return _data_dir("seeds")


def article_path() -> Path:
    return seeds_dir() / ARTICLE_FILENAME
