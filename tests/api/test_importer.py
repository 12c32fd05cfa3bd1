"""`gateway memory import`: a JSON-lines file into the store, then read back through a gateway.

Real embedded Chroma, the real embedding model, the real command-line entry point; what was
imported is checked the way an application sees it: the memory API and the echo model's input.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from gateway.cli import main
from gateway.config import parse_config
from tests.support.gateway import KEY, OTHER_KEY, RunningGateway, gateway_in_thread
from tests.support.memory import MemoryClient, echo_chat, memory_block, sdk

REPO_ROOT = Path(__file__).resolve().parents[2]


def write_config(directory: Path, model_dir: Path) -> Path:
    """Memory on over an embedded store in ``directory``; tenants acme (first key) and globex."""
    raw: dict[str, Any] = {
        "auth": {"keys": [{"key": KEY, "tenant": "acme"}, {"key": OTHER_KEY, "tenant": "globex"}]},
        "models": [{"name": "echo", "model": "echo"}],
        "memory": {
            "store": {"path": str(directory / "chroma"), "state_dir": str(directory / "state")},
            "embedding": {"model_dir": str(model_dir)},
        },
        "extraction": {"enabled": False},
    }
    path = directory / "gateway.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def write_lines(path: Path, lines: list[Any]) -> Path:
    """Objects become JSON lines; strings are written as they are (for broken lines)."""
    text = [line if isinstance(line, str) else orjson.dumps(line).decode() for line in lines]
    path.write_text("\n".join(text) + "\n")
    return path


@contextmanager
def serving(config: Path) -> Iterator[tuple[RunningGateway, MemoryClient, MemoryClient]]:
    """A gateway over the imported store, and memory API clients for acme and globex."""
    with gateway_in_thread(parse_config(config.read_text(), {})) as running:
        acme, globex = MemoryClient(running), MemoryClient(running, OTHER_KEY)
        try:
            yield running, acme, globex
        finally:
            acme.close()
            globex.close()


GOOD = [
    {"user_id": "ana", "text": "Drinks green tea every morning."},
    {
        "user_id": "ana",
        "content": "Prefers answers in bullet points.",
        "category": "preference",
        "created_at": 1700000000,
        "metadata": {"origin": "crm", "tags": ["style"]},
    },
    {"user_id": "ana", "content": "Is allergic to peanuts.", "created_at": "2024-05-01"},
    {"user_id": "ben", "text": "Works night shifts at the port.", "tenant": "globex"},
]


def test_imported_memories_are_listed_and_injected(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, model_dir)
    source = write_lines(tmp_path / "memories.jsonl", GOOD)

    assert main(["memory", "import", "--config", str(config), str(source)]) == 0
    out = capsys.readouterr()
    assert "imported 4 memories for 2 users" in out.out
    assert "0 already present, 0 bad lines skipped" in out.out
    assert out.err == ""
    # The same file again (say, after an interruption) stores nothing twice.
    assert main(["memory", "import", "--config", str(config), str(source)]) == 0
    assert "imported 0 memories for 0 users" in capsys.readouterr().out

    with serving(config) as (running, acme, globex):
        listed = acme.http.get(acme.path("ana")).json()
        assert listed["total"] == 3
        by_content = {m["content"]: m for m in listed["data"]}
        assert set(by_content) == {
            "Drinks green tea every morning.",
            "Prefers answers in bullet points.",
            "Is allergic to peanuts.",
        }
        styled = by_content["Prefers answers in bullet points."]
        assert styled["category"] == "preference"
        assert styled["created_at"] == "2023-11-14T22:13:20Z"
        assert styled["metadata"] == {"origin": "crm", "tags": ["style"]}
        assert styled["source"] == "api" and styled["status"] == "active"
        assert by_content["Drinks green tea every morning."]["category"] == "fact"
        assert by_content["Is allergic to peanuts."]["created_at"] == "2024-05-01T00:00:00Z"
        # Lines without a tenant went to the first key's tenant, the others where they said.
        assert globex.contents("ana") == []
        assert globex.contents("ben") == ["Works night shifts at the port."]
        assert acme.contents("ben") == []

        chat = sdk(running)
        received, _ = echo_chat(
            chat, [{"role": "user", "content": "What should I have for breakfast?"}], user_id="ana"
        )
        chat.close()
        block = memory_block(received)
        assert "Drinks green tea every morning." in block
        assert "Is allergic to peanuts." in block
        assert "Works night shifts" not in block


def test_bad_lines_are_reported_by_line_and_field_and_the_rest_imported(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, model_dir)
    source = write_lines(
        tmp_path / "mixed.jsonl",
        [
            {"user_id": "cara", "text": "Runs 10 km on Sundays."},
            '{"user_id": "cara", "text": "broken',
            {"text": "Nobody's memory."},
            "",
            {"user_id": "cara", "text": "Has a cat.", "created_at": "last Tuesday"},
            {"user_id": "cara", "text": "Secret plans.", "tenant": "initech"},
            {"user_id": "cara", "text": "Likes jazz.", "category": "gossip"},
            {"user_id": "cara", "content": "Both.", "text": "Both."},
            {"user_id": "cara", "txt": "Typo."},
            {"user_id": "cara", "text": "Lives in Oslo.", "metadata": "not an object"},
            {"user_id": "cara", "text": "Speaks Norwegian.", "category": "preference"},
        ],
    )

    assert main(["memory", "import", "--config", str(config), str(source)]) == 1
    out = capsys.readouterr()
    assert "imported 2 memories for 1 users" in out.out
    assert "8 bad lines skipped" in out.out
    reported = [line for line in out.err.splitlines() if line.endswith("; skipped")]
    where = [line.split(": ", 3)[2] for line in reported]
    assert where == [
        "line 2",
        "line 3, field 'user_id'",
        "line 5, field 'created_at'",
        "line 6, field 'tenant'",
        "line 7, field 'category'",
        "line 8, field 'text'",
        "line 9, field 'txt'",
        "line 10, field 'metadata'",
    ]
    # The reasons never quote what the line held.
    for text in ("broken", "Nobody", "last Tuesday", "initech", "gossip", "Typo", "cara"):
        assert text not in out.err

    with serving(config) as (_, acme, _):
        assert sorted(acme.contents("cara")) == ["Runs 10 km on Sundays.", "Speaks Norwegian."]


def test_standard_input_and_no_litellm(tmp_path: Path, model_dir: Path) -> None:
    """`-` reads the lines from standard input; importing never loads litellm."""
    config = write_config(tmp_path, model_dir)
    lines = b"".join(orjson.dumps(line) + b"\n" for line in GOOD)
    script = (
        "import sys; from gateway.cli import main; code = main(sys.argv[1:]); "
        "print('litellm loaded' if 'litellm' in sys.modules else 'litellm not loaded'); "
        "sys.exit(code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "memory", "import", "--config", str(config), "-"],
        input=lines,
        capture_output=True,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert b"imported 4 memories for 2 users" in done.stdout
    assert b"litellm not loaded" in done.stdout


def test_an_unknown_tenant_option_is_refused(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, model_dir)
    source = write_lines(tmp_path / "one.jsonl", GOOD[:1])
    assert (
        main(["memory", "import", "--config", str(config), "--tenant", "initech", str(source)]) == 2
    )
    assert "not the tenant of any key" in capsys.readouterr().err
    assert not (tmp_path / "chroma").exists()
