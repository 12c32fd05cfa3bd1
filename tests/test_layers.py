"""The parts of ``gateway`` import only the parts below them, so a stage never reaches up into the
orchestrator that calls it. A new part must be given its place in ``LAYERS`` to pass."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gateway"

#: Lowest first. A module may import its own part, or any part of a lower layer; parts that share
#: a layer stay independent of each other.
LAYERS: list[tuple[str, ...]] = [
    ("errors",),
    ("config",),
    ("types", "tokens", "_litellm", "listener"),
    ("observability", "config_reference"),
    ("store", "upstream", "audit"),
    ("profile",),
    ("context",),
    ("learning",),
    ("proxy",),
    ("api",),
    ("reload", "ui", "mcp"),
    ("app", "connection"),
    ("server",),
    ("cli",),
    ("__main__",),
]
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def part_of(module: str) -> str:
    """``gateway.store.index`` -> ``store``; the package itself is nobody's part."""
    names = module.split(".")
    return names[1] if len(names) > 1 else ""


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    names = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(names)


def imported(path: Path, module: str) -> set[str]:
    """Every ``gateway`` module that ``path`` imports, at any depth in the file."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("gateway.")}


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_part_has_a_layer() -> None:
    parts = {part_of(module_name(path)) for path in modules()} - {""}
    assert parts - RANK.keys() == set()


@pytest.mark.parametrize("path", modules(), ids=lambda path: module_name(path))
def test_imports_go_down_the_layers(path: Path) -> None:
    module = module_name(path)
    own = part_of(module)
    upward = sorted(
        name
        for name in imported(path, module)
        if (other := part_of(name)) in RANK and other != own and own and RANK[other] >= RANK[own]
    )
    assert upward == [], f"{module} ({own}) imports from its own layer or above"


def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    stage = tmp_path / "stage.py"
    stage.write_text("from gateway.proxy.chat import ChatCompletions\n")
    names = imported(stage, "gateway.context.stage")
    assert "gateway.proxy.chat" in names
    assert RANK[part_of("gateway.proxy.chat")] > RANK[part_of("gateway.context.stage")]
