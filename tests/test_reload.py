"""Reloading the config of a running `gateway serve` process, with real signals and the
`gateway reload` command: what changes on the next request, what waits for a restart, and a
file that fails validation."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from tests.learning.helpers import counter, scrape, wait_until
from tests.support.gateway import KEY, OTHER_KEY, GatewayProcess, free_port, spawn_gateway
from tests.support.memory import MODEL_DIR
from tests.support.mock_upstream import RunningMock

pytestmark = pytest.mark.slow


def base(tmp_path: Path, mock: RunningMock) -> dict[str, Any]:
    return {
        "auth": {"keys": [{"key": KEY, "tenant": "acme"}]},
        "models": [
            {"name": "echo", "model": "echo"},
            {"name": "slow", "model": "openai/mock", "api_base": mock.base_url, "api_key": "sk-p"},
        ],
        "memory": {
            "store": {"path": str(tmp_path / "chroma"), "state_dir": str(tmp_path / "state")},
            "embedding": {"model_dir": str(MODEL_DIR)},
        },
        "extraction": {"enabled": False},
        "tenants": {"acme": {"context": {"compliance": ["Never promise refunds."]}}},
    }


@pytest.fixture
def served(tmp_path: Path, mock: RunningMock) -> Iterator[tuple[GatewayProcess, Path]]:
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(base(tmp_path, mock)))
    gateway = spawn_gateway(path, port=free_port())
    try:
        yield gateway, path
    finally:
        gateway.process.terminate()
        gateway.process.wait(timeout=30)


def echoed(url: str, key: str = KEY, model: str = "echo") -> list[dict[str, Any]]:
    response = httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "Hello"}]},
        headers={"Authorization": f"Bearer {key}", "X-User-Id": "alice"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    messages: list[dict[str, Any]] = orjson.loads(
        response.json()["choices"][0]["message"]["content"]
    )
    return messages


def models(url: str, key: str = KEY) -> httpx.Response:
    return httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=10)


def reloads(url: str, outcome: str) -> float:
    return counter(scrape(url), "gateway_config_reloads_total", outcome=outcome)


def test_sighup_applies_keys_models_tenant_context_and_template_without_dropping_a_request(
    served: tuple[GatewayProcess, Path], mock: RunningMock, tmp_path: Path
) -> None:
    gateway, path = served
    assert "Never promise refunds." in str(echoed(gateway.url))
    assert models(gateway.url, OTHER_KEY).status_code == 401
    # A request under way when the signal arrives: the provider answers only after 2 s.
    results: list[int] = []
    slow = threading.Thread(
        target=lambda: results.append(
            httpx.post(
                f"{gateway.url}/v1/chat/completions",
                json={
                    "model": "slow",
                    "messages": [{"role": "user", "content": "Hi"}],
                    "mock": {"mode": "json", "content": "ok", "delay_s": 2},
                },
                headers={"Authorization": f"Bearer {KEY}"},
                timeout=30,
            ).status_code
        )
    )
    slow.start()
    wait_until(lambda: mock.state.requests)

    changed = base(tmp_path, mock)
    changed["auth"]["keys"].append({"key": OTHER_KEY, "tenant": "acme"})
    changed["models"].append({"name": "echo-2", "model": "echo"})
    changed["tenants"]["acme"]["context"]["compliance"] = ["Always cite the policy number."]
    changed["context"] = {"template": "<notes>\n{memories}\n</notes>", "budget_tokens": 500}
    path.write_text(yaml.safe_dump(changed))
    gateway.process.send_signal(signal.SIGHUP)

    wait_until(lambda: models(gateway.url, OTHER_KEY).status_code == 200)
    assert "echo-2" in {m["id"] for m in models(gateway.url, OTHER_KEY).json()["data"]}
    injected = str(echoed(gateway.url, OTHER_KEY, model="echo-2"))
    assert "Always cite the policy number." in injected and "<notes>" in injected
    assert "Never promise refunds." not in injected
    slow.join(timeout=30)
    assert results == [200]  # the request in flight finished with the config it started with
    assert reloads(gateway.url, "applied") == 1
    assert gateway.process.poll() is None


def test_an_invalid_file_is_refused_and_the_running_config_stays(
    served: tuple[GatewayProcess, Path], mock: RunningMock, tmp_path: Path
) -> None:
    gateway, path = served
    broken = base(tmp_path, mock)
    broken["models"][1]["timeout_s"] = -1
    path.write_text(yaml.safe_dump(broken))
    gateway.process.send_signal(signal.SIGHUP)
    wait_until(lambda: reloads(gateway.url, "invalid") == 1)
    assert "models[1].timeout_s" in gateway.log()
    assert "Never promise refunds." in str(echoed(gateway.url))
    # The command checks the file first and sends nothing.
    refused = gateway_command("reload", "--config", str(path))
    assert refused.returncode == 2 and "models[1].timeout_s" in refused.stderr
    assert reloads(gateway.url, "invalid") == 1 and reloads(gateway.url, "applied") == 0


def test_gateway_reload_signals_the_server_and_restart_only_keys_say_so(
    served: tuple[GatewayProcess, Path], mock: RunningMock, tmp_path: Path
) -> None:
    gateway, path = served
    changed = base(tmp_path, mock)
    changed["server"] = {"port": free_port()}
    changed["tenants"]["acme"]["context"]["compliance"] = ["Answer in French."]
    path.write_text(yaml.safe_dump(changed))
    done = gateway_command("reload", "--config", str(path))
    assert done.returncode == 0, done.stderr
    wait_until(lambda: reloads(gateway.url, "applied") == 1)
    assert "Answer in French." in str(echoed(gateway.url))  # still served on the old port
    assert "server changed but applies only after a restart" in gateway.log()


def test_gateway_reload_without_a_running_gateway_says_so(
    tmp_path: Path, mock: RunningMock
) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(base(tmp_path, mock)))
    result = gateway_command("reload", "--config", str(path))
    assert result.returncode == 1
    assert "no running gateway found" in result.stderr


def gateway_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args], capture_output=True, text=True, timeout=60
    )


def test_a_reload_brings_a_model_that_messages_reach_through_litellm(
    mock: RunningMock, tmp_path: Path
) -> None:
    # Started with the echo model alone: litellm's Messages bridge comes with the reload.
    config = base(tmp_path, mock)
    config["models"] = [{"name": "echo", "model": "echo"}]
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    gateway = spawn_gateway(path, port=free_port())
    try:
        config["models"].append(
            {"name": "vllm", "model": "hosted_vllm/mock-model", "api_base": mock.base_url}
        )
        path.write_text(yaml.safe_dump(config))
        gateway.process.send_signal(signal.SIGHUP)
        wait_until(lambda: "vllm" in {m["id"] for m in models(gateway.url).json()["data"]})
        response = httpx.post(
            f"{gateway.url}/v1/messages",
            json={
                "model": "vllm",
                "max_tokens": 10,
                "messages": [{"role": "user", "content": "Hi"}],
            },
            headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        assert response.json()["content"][0]["text"] == "Hello from the mock."
    finally:
        gateway.process.terminate()
        gateway.process.wait(timeout=30)


def test_an_applied_reload_is_in_the_audit_trail(
    served: tuple[GatewayProcess, Path], mock: RunningMock, tmp_path: Path
) -> None:
    gateway, path = served
    changed = base(tmp_path, mock)
    changed["auth"]["admin_keys"] = [{"key": "sk-test-operator", "name": "operator"}]
    path.write_text(yaml.safe_dump(changed))
    gateway.process.send_signal(signal.SIGHUP)
    admin = {"Authorization": "Bearer sk-test-operator"}

    def audited() -> list[dict[str, Any]]:
        reply = httpx.get(f"{gateway.url}/v1/audit", headers=admin, timeout=10)
        data: list[dict[str, Any]] = reply.json()["data"] if reply.status_code == 200 else []
        return data

    wait_until(lambda: bool(audited()))
    [record] = audited()
    assert (record["action"], record["via"], record["tenant"]) == ("config.reload", "signal", None)
