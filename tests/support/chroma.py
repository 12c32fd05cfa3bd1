"""A real `chroma run` server on loopback, started and stopped by the tests themselves."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.gateway import free_port

# The console script `chroma` spends ~4 s importing the Python package before it hands over to
# the Rust server; calling the bindings' CLI directly starts the same server in ~0.5 s.
_LAUNCH = "import sys, chromadb_rust_bindings as b; b.cli(['chroma'] + sys.argv[1:])"


@dataclass
class ChromaServer:
    path: Path
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_chroma(path: Path, port: int | None = None, timeout: float = 30) -> ChromaServer:
    """Start `chroma run` on ``path`` and wait for its heartbeat."""
    port = port or free_port()
    path.mkdir(parents=True, exist_ok=True)
    log_path = path.parent / f"{path.name}-chroma-{port}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", _LAUNCH, "run", "--path", str(path), "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = ChromaServer(path, port, process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chroma exited: {log_path.read_text(errors='replace')}")
        try:
            if httpx.get(f"{server.url}/api/v2/heartbeat", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"chroma did not answer: {log_path.read_text(errors='replace')}")


@contextmanager
def chroma_server(path: Path, port: int | None = None) -> Iterator[ChromaServer]:
    server = start_chroma(path, port)
    try:
        yield server
    finally:
        server.stop()
