"""``gateway.errors`` draws every exception class of the gateway, and defines every one a client
can be answered with."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gateway.errors
from gateway.errors import (
    EmbeddingError,
    EmbeddingModelUnavailable,
    GatewayError,
    ImportInterrupted,
    IsolationViolation,
    StoreUnavailable,
)

PACKAGE = Path(gateway.errors.__file__).resolve().parent


def exception_classes() -> list[tuple[str, str, list[str]]]:
    """(module path, class name, base names) of every class whose bases look like exceptions."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(base) for base in node.bases]
                if any(base.endswith(("Error", "Exception", "NotFound")) for base in bases):
                    found.append((str(path.relative_to(PACKAGE)), node.name, bases))
    return found


def test_every_exception_class_is_in_the_drawn_tree() -> None:
    doc = gateway.errors.__doc__ or ""
    missing = [(path, name) for path, name, _ in exception_classes() if name not in doc]
    assert missing == []


def test_every_client_facing_error_is_defined_in_errors() -> None:
    # Outside errors.py only plain signals, raised and caught within their part.
    outside = [
        (path, name, bases)
        for path, name, bases in exception_classes()
        if path != "errors.py" and bases != ["Exception"]
    ]
    assert outside == []


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (EmbeddingModelUnavailable("no model"), 503, "embedding_unavailable"),
        (IsolationViolation("crossed"), 500, "isolation_violation"),
        (StoreUnavailable("down"), 503, "store_unavailable"),
    ],
)
def test_moved_errors_keep_their_answer(error: GatewayError, status: int, code: str) -> None:
    assert error.status_code == status
    assert f'"code":"{code}"' in error.body().decode()


def test_an_interrupted_import_says_how_far_it_got() -> None:
    cause = EmbeddingError("the provider is down")
    interrupted = ImportInterrupted(120, 121, cause)
    assert interrupted.imported == 120
    assert interrupted.line == 121
    assert "stopped at line 121: the provider is down (120 memories" in interrupted.message
