"""`gateway serve` as a user runs it: a real process on loopback."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import openai
import orjson
import pytest

from tests.support.gateway import free_port, spawn_gateway

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
        # uvicorn re-raises the signal once it has shut down cleanly.
        assert gateway.process.wait(timeout=20) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in gateway.log()


def test_serve_refuses_a_bad_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("auth: {keys: []}\nmodels: []\n")
    with pytest.raises(RuntimeError, match=r"auth.keys"):
        spawn_gateway(bad, port=free_port(), timeout=20)
