from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from spakg.knowledge import Knowledge
from spakg.resources import default_ontology_dir
from support import running_server

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """With -n (pytest-xdist), each test file runs on one worker, in file order, as when run alone (--dist loadfile):
    a module's server or cluster starts once, and tests that read what earlier ones left (a server's log, SPARQL
    workers being replaced) see it. Set here, not in addopts, so that pytest without xdist still runs; an explicit
    --dist wins."""
    if getattr(config.option, "dist", "no") == "load" and "--dist" not in " ".join(config.invocation_params.args):
        config.option.dist = "loadfile"


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    return Knowledge.load()


@pytest.fixture(scope="session", autouse=True)
def _port_ledger(tmp_path_factory) -> None:
    """Where support.free_port keeps the ports it handed out: in this run's temporary directory (under pytest-xdist
    the one all workers share), which pytest removes with old runs."""
    base = tmp_path_factory.getbasetemp()
    os.environ["SPAKG_TEST_PORT_LEDGER"] = str((base.parent if "PYTEST_XDIST_WORKER" in os.environ else base) / "ports")


@pytest.fixture(scope="session")
def served() -> Iterator[str]:
    """One `spakg serve` with the defaults (warnings only in its log), shared by every test that needs no option of
    its own: started once per test process (per pytest-xdist worker), not once per module."""
    with running_server("--log-level", "warning") as base:
        yield base


@pytest.fixture(scope="session")
def dask_scheduler() -> Iterator[str]:
    """The address of a local Dask cluster of two worker processes, shared by the tests that screen a cohort: a
    cluster starts once per test process, and its workers load the ontology once. `spakg screen`'s own local
    cluster (--workers) is run by tests/test_readme.py and tests/test_explorer.py."""
    from dask.distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


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
