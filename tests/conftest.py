from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from spakg.knowledge import Knowledge
from spakg.resources import default_ontology_dir

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    return Knowledge.load()


@pytest.fixture
def ontology_copy(tmp_path: Path) -> Path:
    """A writable copy of the ontology directory, for tests that edit it."""
    target = tmp_path / "ontology"
    shutil.copytree(default_ontology_dir(), target)
    return target


@pytest.fixture
def assess(knowledge):
    from spakg.assessment import Assessment

    def run(*findings: dict, k: Knowledge | None = None, **patient) -> dict[str, str]:
        """Every rule's status for these findings (and patient fields: age=, sex=, measurements=)."""
        kb = k or knowledge
        a = Assessment(kb, kb.facts.read({"findings": list(findings), **patient}))
        return {rule.id: ("NOT_MET", "UNDETERMINED", "MET")[s] for rule, s in zip(kb.rules.order, a.statuses, strict=True)}

    return run
