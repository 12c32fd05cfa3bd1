"""Running a real gateway on loopback for tests: in a thread, or as a `gateway serve` process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from gateway.app import create_app
from gateway.config import GatewayConfig, parse_config
from gateway.connection import LimitedHTTP

KEY = "sk-test-acme"
OTHER_KEY = "sk-test-globex"


def base_yaml(mock_base_url: str) -> str:
    return f"""
auth:
  keys:
    - {{key: {KEY}, tenant: acme}}
    - {{key: {OTHER_KEY}, tenant: globex}}
models:
  - {{name: mock, model: openai/mock-model, api_base: "{mock_base_url}", api_key: sk-provider-secret-123, timeout_s: 5, retries: 2}}
  - {{name: echo, model: echo}}
memory: {{enabled: false}}
"""


@dataclass
class RunningGateway:
    url: str
    config: GatewayConfig

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"


@contextmanager
def gateway_in_thread(config: GatewayConfig) -> Iterator[RunningGateway]:
    """Serve ``config`` with uvicorn on a free loopback port, in a background thread."""
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="on",
            http=LimitedHTTP(config.server),
            loop="uvloop",
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("gateway did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield RunningGateway(f"http://127.0.0.1:{port}", config)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def start_gateway(yaml_text: str, env: Mapping[str, str] | None = None):  # type: ignore[no-untyped-def]
    return gateway_in_thread(parse_config(yaml_text, env or {}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class GatewayProcess:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def spawn_gateway(
    config_path: Path,
    *,
    port: int,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    use_env_config: bool = False,
) -> GatewayProcess:
    """Start ``gateway serve`` as a real process and wait until it answers /healthz."""
    full_env = {**os.environ, **(env or {})}
    if use_env_config:
        config_path = Path(full_env["GATEWAY_CONFIG"])
        command = ["serve", "--port", str(port)]
    else:
        command = ["serve", "--config", str(config_path), "--port", str(port)]
    descriptor, name = tempfile.mkstemp(prefix=f"gateway-{port}-", suffix=".log")
    log_path = Path(name)
    with open(descriptor, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", *command],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited: {log_path.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return GatewayProcess(process, url, log_path)
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"gateway did not answer: {log_path.read_text()}")
