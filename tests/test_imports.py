"""The import graph: no two modules of spakg import each other (directly or round a longer circle), and every package
spakg or its tests import is declared in pyproject.toml — the serving path's in the base install, the rest in an
extra. Imports inside functions and under TYPE_CHECKING count: a reader cannot tell the lower layer of a circle either
way."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from graphlib import CycleError, TopologicalSorter
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "server" / "spakg"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def module_names() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports_of(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, names imported from it, line) for every import statement, relative ones resolved."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]) if path.is_relative_to(PACKAGE) else ""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.append((module, [a.name for a in node.names], node.lineno))
    return out


def import_graph() -> dict[str, set[str]]:
    """spakg module -> the spakg modules it imports (``from . import x`` counts as importing the submodule x)."""
    modules = module_names()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for module, names, _ in imports_of(path):
            targets = [f"{module}.{n}" for n in names if f"{module}.{n}" in modules] or [module]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each circle once: the strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_module_of_spakg_imports_one_that_imports_it_back():
    graph = import_graph()
    assert len(graph) > 50 and graph["spakg.cli"]  # the walk sees the package
    assert circles(graph) == []
    try:  # the same, said by the standard library
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as err:
        raise AssertionError(f"import circle: {err.args[1]}") from None


def requirement_names(requirements: list[str]) -> set[str]:
    return {canonical(re.match(r"[A-Za-z0-9_.-]+", r).group(0)) for r in requirements}  # type: ignore[union-attr]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def third_party(paths: list[Path], local: set[str]) -> dict[str, str]:
    """Top-level module -> where it is first imported, for every import not of the standard library or ``local``."""
    out: dict[str, str] = {}
    for path in paths:
        for module, _, line in imports_of(path):
            top = module.split(".")[0]
            if top and top not in sys.stdlib_module_names and top not in local and top != "__future__":
                out.setdefault(top, f"{path.relative_to(ROOT)}:{line}")
    return out


def undeclared(imported: dict[str, str], declared: set[str]) -> dict[str, str]:
    distributions = packages_distributions()
    return {f"{top} ({', '.join(distributions.get(top, ['not installed']))})": where for top, where in imported.items()
            if not {canonical(d) for d in distributions.get(top, [])} & declared}


def test_every_package_spakg_imports_is_a_declared_dependency_or_extra():
    project = PYPROJECT["project"]
    declared = requirement_names(project["dependencies"])
    for extra, requirements in project["optional-dependencies"].items():
        if extra != "test":
            declared |= requirement_names(requirements)
    imported = third_party(list(PACKAGE.rglob("*.py")), {"spakg"})
    assert {"rdflib", "graphene", "numpy", "owlready2"} <= set(imported)
    assert undeclared(imported, declared) == {}


def test_every_package_the_tests_import_comes_with_the_test_extra():
    project = PYPROJECT["project"]
    declared = requirement_names(project["dependencies"])
    for requirements in project["optional-dependencies"].values():
        declared |= requirement_names(requirements)
    [itself] = [r for r in project["optional-dependencies"]["test"] if r.startswith("spakg[")]
    assert set(re.findall(r"\w+", itself.removeprefix("spakg"))) == set(project["optional-dependencies"]) - {"test"}
    tests = ROOT / "tests"
    local = {p.stem for p in tests.glob("*.py")} | {"spakg"}
    assert undeclared(third_party(list(tests.rglob("*.py")), local), declared) == {}
