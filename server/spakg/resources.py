"""Where the embedded ontology and source article live, installed or in a checkout.

A wheel carries them as package data under ``spakg/_data``; an editable install or a plain checkout
reads them from the repository's top-level ``ontology/`` and ``seeds/``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_PACKAGED = _PACKAGE_DIR / "_data"
_CHECKOUT = _PACKAGE_DIR.parent.parent
_working: Path | None = None  # a checkout the command line was started in: its files win (see use_checkout)

ARTICLE_FILENAME = "inflammatory-back-pain.txt"


def _data_dir(name: str, in_checkout: str | None = None) -> Path:
    """``_data/<name>`` in a wheel, ``<in_checkout or name>`` at the top of a checkout."""
    candidates = (*([_working / (in_checkout or name)] if _working else []), _PACKAGED / name,
                  _CHECKOUT / (in_checkout or name))
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


def competency_dir_if_any() -> Path | None:
    try:
        return competency_dir()
    except FileNotFoundError:
        return None


def vignettes_dir() -> Path:
    """The clinical vignettes (patient facts with the expected outcome of each rule)."""
    return _data_dir("vignettes", "tests/vignettes")


def checkout_around(start: Path) -> Path | None:
    """The spakg checkout ``start`` lies in (a directory with pyproject.toml naming spakg and ontology/), if any."""
    for directory in (start, *start.parents):
        project = directory / "pyproject.toml"
        if (directory / "ontology" / "spakg.ttl").is_file() and project.is_file() \
                and 'name = "spakg"' in project.read_text(encoding="utf-8", errors="replace"):
            return directory
    return None


def use_checkout(root: Path | None) -> None:
    """Read the ontology, article, competency questions and vignettes from this checkout rather than from the
    installed package: a knowledge engineer who runs `spakg check` in a checkout means the files in front of them."""
    global _working
    _working = root
