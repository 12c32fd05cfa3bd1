"""pyproject.toml names every package the code imports: a fresh install has all of them, with
nothing left to whatever else happened to be installed on the machine that ran the tests."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = {"gateway", "tests", "bench"}
#: Modules the gateway imports by name without an import statement: uvicorn loads its event
#: loop and HTTP parser from the names ``gateway serve`` gives it (gateway/server.py).
NAMED_FOR_UVICORN = {"uvloop", "httptools"}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(requirements: Iterable[str]) -> set[str]:
    # The name is whatever comes before the first extra, version, marker or space.
    names = (re.match(r"[A-Za-z0-9._-]+", requirement) for requirement in requirements)
    return {_normalise(match.group()) for match in names if match}


def _project() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        project: dict[str, object] = tomllib.load(file)["project"]
    return project


def runtime_requirements() -> set[str]:
    dependencies = _project()["dependencies"]
    assert isinstance(dependencies, list)
    return _declared(dependencies)


def requirements_for_tests() -> set[str]:
    extras = _project()["optional-dependencies"]
    assert isinstance(extras, dict)
    return runtime_requirements() | _declared(extras["test"])


def _imports_in(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.partition(".")[0]
        elif isinstance(node, ast.JoinedStr | ast.Constant):
            # Code run in a child interpreter (gateway/store/child.py) is a string here.
            yield from _imports_in_source(_text_of(node))


def _text_of(node: ast.JoinedStr | ast.Constant) -> str:
    """A string literal's text; an f-string's fields become ``0``, enough to parse it."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else ""
    return "".join(
        _text_of(part) if isinstance(part, ast.Constant) else "0" for part in node.values
    )


def _imports_in_source(source: str) -> Iterator[str]:
    if "import" not in source:
        return
    try:
        tree = ast.parse(source)
    except SyntaxError:  # prose that mentions importing
        return
    yield from _imports_in(tree)


def third_party_imports(*folders: str) -> set[str]:
    """Top-level modules imported anywhere under ``folders``, less the standard library's and
    our own."""
    found = {
        name
        for folder in folders
        for path in (ROOT / folder).rglob("*.py")
        # Hidden folders hold scratch files, such as the benchmark's LiteLLM virtualenv.
        if not any(part.startswith(".") for part in path.relative_to(ROOT).parts)
        for name in _imports_in(ast.parse(path.read_text(encoding="utf-8")))
    }
    return found - set(sys.stdlib_module_names) - FIRST_PARTY


def undeclared(modules: Iterable[str], declared: set[str]) -> dict[str, list[str]]:
    """Each module no declared distribution provides, with the distributions that provide it
    here (none if it is not installed at all)."""
    providers = importlib.metadata.packages_distributions()
    missing: dict[str, list[str]] = {}
    for module in sorted(modules):
        distributions = providers.get(module, [])
        if not {_normalise(name) for name in distributions} & declared:
            missing[module] = distributions
    return missing


def test_every_module_the_gateway_imports_is_a_declared_dependency() -> None:
    modules = third_party_imports("gateway") | NAMED_FOR_UVICORN
    assert {"onnxruntime", "chromadb", "chromadb_rust_bindings", "uvloop"} <= modules
    assert undeclared(modules, runtime_requirements()) == {}


def test_every_module_the_tests_import_is_declared_for_them() -> None:
    modules = third_party_imports("tests", "bench")
    assert {"pytest", "openai"} <= modules
    assert undeclared(modules, requirements_for_tests()) == {}


def test_a_module_provided_only_by_an_undeclared_package_is_reported() -> None:
    # The check itself can fail: yaml comes from PyYAML, which this set leaves out.
    assert undeclared({"yaml", "numpy"}, {"numpy"}) == {"yaml": ["PyYAML"]}
    assert undeclared({"no_such_module_anywhere"}, {"numpy"}) == {"no_such_module_anywhere": []}


@pytest.mark.parametrize("requirement", ["sympy", "ml-dtypes"])
def test_what_the_int8_query_model_needs_is_declared(requirement: str) -> None:
    # Imported by onnxruntime, not by us, so the scan above cannot see them; since onnxruntime
    # 1.25 they come only with extras, and without them queries would run the fp32 model.
    assert requirement in runtime_requirements()
