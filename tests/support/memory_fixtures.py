"""Fixtures for the memory tests: the real all-MiniLM-L6-v2 files and loopback HTTP servers."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gateway.store.embedding import OnnxMiniLM
from tests.support.chroma import ChromaServer, chroma_server
from tests.support.gateway import RunningGateway, gateway_in_thread
from tests.support.memory import MODEL_HOME, memory_config, shared_sections
from tests.support.mock_upstream import RunningMock

# A handler gets (method, path, body) and answers (status, content type, body).
Reply = tuple[int, str, bytes]
Handler = Callable[[str, str, bytes], Reply]


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The offline copy of the ONNX model; its absence is a broken checkout, not a skip."""
    onnx_dir = MODEL_HOME / "onnx"
    missing = [
        n for n in ("model.onnx", "tokenizer.json", "config.json") if not (onnx_dir / n).is_file()
    ]
    if missing:
        pytest.fail(f"offline model files missing from {onnx_dir}: {missing}", pytrace=False)
    return onnx_dir


@pytest.fixture(scope="session")
def reference() -> dict[str, Any]:
    """Texts and their sentence-transformers embeddings, computed from the original weights."""
    path = MODEL_HOME / "reference_embeddings.json"
    if not path.is_file():
        pytest.fail(f"reference embeddings missing: {path}", pytrace=False)
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="session")
def embedder(model_dir: Path) -> Iterator[OnnxMiniLM]:
    minilm = OnnxMiniLM(model_dir)
    yield minilm
    minilm.close()


@pytest.fixture(scope="session")
def chroma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """A real `chroma run` server on a free loopback port, shared by the memory tests."""
    with chroma_server(tmp_path_factory.mktemp("chroma-server") / "data") as server:
        yield server


@pytest.fixture(scope="session")
def memory_gateway(
    tmp_path_factory: pytest.TempPathFactory, mock_server: RunningMock
) -> Iterator[RunningGateway]:
    """A gateway with memory on over an embedded store in its own process (tests write to the
    store behind its back); tests keep apart by user id. The default, a store child, talks to
    its child like ``server_gateway`` to its server (tests/store/test_child.py)."""
    state = tmp_path_factory.mktemp("memory-gateway")
    sections = shared_sections(mock_server)
    sections["memory"] = {**sections["memory"], "store": {"runs_in": "gateway"}}
    with gateway_in_thread(memory_config(state, **sections)) as running:
        yield running


@pytest.fixture(scope="session")
def server_gateway(
    tmp_path_factory: pytest.TempPathFactory, chroma: ChromaServer, mock_server: RunningMock
) -> Iterator[RunningGateway]:
    """The same gateway over the `chroma run` server."""
    state = tmp_path_factory.mktemp("server-gateway")
    config = memory_config(state, store_url=chroma.url, **shared_sections(mock_server))
    with gateway_in_thread(config) as running:
        yield running


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], str]]:
    """Start an HTTP server on 127.0.0.1 answering with ``handler``; returns its base URL."""
    running: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start(handler: Handler) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _request_handler(handler))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        running.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join()


def _request_handler(handler: Handler) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            status, content_type, body = handler(method, self.path, self.rfile.read(length))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return _Handler
