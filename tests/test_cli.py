"""`gateway serve` as a user runs it: a real process on loopback."""

from __future__ import annotations

import importlib.metadata
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import orjson
import pytest

from gateway.store.lock import lock_directory
from tests.support.gateway import free_port, spawn_gateway
from tests.support.memory import MODEL_DIR

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_serve_example_config_from_env_and_echo(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "GATEWAY_CONFIG": str(ROOT / "config" / "gateway.yaml"),
        "GATEWAY_KEY": "sk-from-env",
        "GATEWAY_DATA_DIR": str(tmp_path / "data"),
    }
    env.pop("OPENAI_API_KEY", None)
    # --config is omitted on purpose: GATEWAY_CONFIG must be honoured.
    gateway = spawn_gateway(Path("unused.yaml"), port=port, env=env, use_env_config=True)
    try:
        with openai.OpenAI(
            base_url=f"{gateway.url}/v1", api_key="sk-from-env", max_retries=0
        ) as client:
            reply = client.chat.completions.create(
                model="echo", messages=[{"role": "user", "content": "What do you see?"}]
            )
        sent = orjson.loads(reply.choices[0].message.content or "")
        assert sent[-1] == {"role": "user", "content": "What do you see?"}
        assert httpx.get(f"{gateway.url}/readyz").status_code == 200
    finally:
        gateway.process.send_signal(signal.SIGTERM)
        assert gateway.process.wait(timeout=20) == 0
        assert "Application shutdown complete" in gateway.log()


def test_serve_refuses_a_bad_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("auth: {keys: []}\nmodels: []\n")
    with pytest.raises(RuntimeError, match=r"auth.keys"):
        spawn_gateway(bad, port=free_port(), timeout=20)


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
    )


def embedded_store_config(tmp_path: Path, *, workers: int = 1) -> Path:
    """Memory on an embedded store in a `chroma run` child, as the example config has it."""
    path = tmp_path / "gateway.yaml"
    path.write_text(f"""
server: {{workers: {workers}, shutdown_timeout_s: 5}}
auth: {{keys: [{{key: sk-test, tenant: acme}}]}}
models: [{{name: echo, model: echo}}]
memory:
  store: {{path: "{tmp_path / "chroma"}", state_dir: "{tmp_path / "state"}"}}
  embedding: {{model_dir: "{MODEL_DIR}", query_precision: fp32}}
extraction: {{mode: turns}}
""")
    return path


def memory_off_config(tmp_path: Path, *, workers: int = 1) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(f"""
server: {{workers: {workers}, shutdown_timeout_s: 5}}
auth: {{keys: [{{key: sk-test, tenant: acme}}]}}
models: [{{name: echo, model: echo}}]
memory: {{enabled: false}}
""")
    return path


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout == f"gateway {importlib.metadata.version('memory-gateway')}\n"


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def test_a_taken_port_fails_at_once_and_starts_nothing(tmp_path: Path, taken_port: int) -> None:
    config = embedded_store_config(tmp_path)
    started = time.monotonic()
    result = run_cli("serve", "--config", str(config), "--port", str(taken_port))
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert result.stderr == (
        f"gateway: cannot listen on 127.0.0.1:{taken_port}: Address already in use\n"
    )
    assert elapsed < 1.0
    # Neither the store nor its `chroma run` child was started: the child creates this first.
    assert not (tmp_path / "chroma").exists()


def test_command_line_overrides_are_validated_like_the_file(tmp_path: Path) -> None:
    config = str(embedded_store_config(tmp_path))
    port = run_cli("serve", "--config", config, "--port", "70000")
    assert port.returncode == 2
    assert "server.port: Input should be less than or equal to 65535" in port.stderr
    workers = run_cli("serve", "--config", config, "--workers", "2")
    assert workers.returncode == 2
    assert "memory.store.url: required when server.workers > 1" in workers.stderr
    assert "Traceback" not in port.stderr + workers.stderr
    assert not (tmp_path / "chroma").exists()


@pytest.mark.slow
def test_a_second_gateway_or_an_import_refuses_a_held_store(tmp_path: Path) -> None:
    config = embedded_store_config(tmp_path)
    first = spawn_gateway(config, port=free_port())
    try:
        second = run_cli("serve", "--config", str(config), "--port", str(free_port()))
        assert second.returncode == 1
        store = tmp_path / "chroma"
        held = (
            f"gateway: the embedded store {store} is in use by another gateway process "
            f"(pid {first.process.pid}); stop it first, or give this one another "
            "memory.store.path\n"
        )
        assert second.stderr == held
        lines = tmp_path / "memories.jsonl"
        lines.write_text('{"user_id": "u1", "content": "Prefers tea."}\n')
        imported = run_cli("memory", "import", "--config", str(config), str(lines))
        assert imported.returncode == 1
        assert imported.stderr == held
        assert imported.stdout == ""
    finally:
        first.process.send_signal(signal.SIGTERM)
        assert first.process.wait(timeout=30) == 0


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_shuts_down_cleanly_and_exits_0(tmp_path: Path, sig: signal.Signals) -> None:
    gateway = spawn_gateway(embedded_store_config(tmp_path), port=free_port())
    gateway.process.send_signal(sig)
    assert gateway.process.wait(timeout=30) == 0
    log = gateway.log()
    assert "Application shutdown complete" in log
    assert "Traceback" not in log
    # The lock went with the gateway: no `chroma run` child or stray worker still holds it.
    with lock_directory(tmp_path / "chroma"):
        pass


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_two_workers_and_exits_0(tmp_path: Path, sig: signal.Signals) -> None:
    gateway = spawn_gateway(memory_off_config(tmp_path, workers=2), port=free_port())
    gateway.process.send_signal(sig)
    assert gateway.process.wait(timeout=30) == 0
    assert gateway.log().count("Application shutdown complete") == 2
