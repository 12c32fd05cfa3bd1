"""The mock upstream: Debian's nginx answering with a canned chat completion or SSE stream.

nginx cannot branch on the request body, so the plain answer and the stream live on two ports:
point a model at `plain_base` for `stream: false` traffic and at `stream_base` for `stream: true`.
Both answer POST /v1/chat/completions and POST /v1/responses (whatever the body), POST
/v1/embeddings (one canned 1,536-dimension vector) and GET /v1/models. The answers are
sent in one write with a Content-Length: the mock adds no think time, so the only latency in
the benchmark is the proxy's own.
"""

from __future__ import annotations

import base64
import contextlib
import json
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bench import procs

_ANSWER = (
    "Here is a simple plan: start with something you already enjoy, keep the first step small, "
    "and check in with yourself at the end of the week to see what worked."
)
_CREATED = 1_700_000_000
_USAGE = {"prompt_tokens": 42, "completion_tokens": 31, "total_tokens": 73}


@dataclass(frozen=True)
class Mock:
    """A running mock; the bases end in /v1 like an OpenAI base URL."""

    plain_base: str
    stream_base: str
    pid: int
    log: Path


def completion() -> dict[str, object]:
    """The canned non-streaming answer."""
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": _CREATED,
        "model": "mock",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": _ANSWER},
                "finish_reason": "stop",
            }
        ],
        "usage": _USAGE,
    }


def _chunk(delta: dict[str, str], finish: str | None) -> dict[str, object]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": "mock",
        "choices": [choice],
    }


def sse_stream(pieces: int = 8) -> str:
    """The canned stream: a role chunk, content chunks, a finish chunk, a usage chunk, [DONE]."""
    texts = _pieces(pieces)
    chunks = [_chunk({"role": "assistant", "content": ""}, None)]
    chunks += [_chunk({"content": text}, None) for text in texts]
    chunks.append(_chunk({}, "stop"))
    usage = {**_chunk({}, None), "choices": [], "usage": _USAGE}
    events = [f"data: {json.dumps(c, separators=(',', ':'))}\n\n" for c in [*chunks, usage]]
    return "".join(events) + "data: [DONE]\n\n"


#: text-embedding-3-small's size: the answer is as long as a real one.
EMBEDDING_DIMENSIONS = 1536


def embeddings() -> dict[str, object]:
    """The canned embeddings answer: one vector, base64 float32, as the OpenAI SDKs ask."""
    values = array("f", (((i * 37) % 101) / 101 - 0.5 for i in range(EMBEDDING_DIMENSIONS)))
    vector = base64.b64encode(values.tobytes()).decode()
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": vector}],
        "model": "mock-embedding",
        "usage": {"prompt_tokens": 12, "total_tokens": 12},
    }


def response_object() -> dict[str, object]:
    """The canned non-streaming answer of the Responses API."""
    message = {
        "type": "message",
        "id": "msg_bench",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": _ANSWER, "annotations": []}],
    }
    usage = {"input_tokens": 42, "output_tokens": 31, "total_tokens": 73}
    return {
        "id": "resp_bench",
        "object": "response",
        "created_at": _CREATED,
        "status": "completed",
        "model": "mock",
        "output": [message],
        "usage": usage,
    }


def responses_stream(pieces: int = 8) -> str:
    """The canned Responses stream: created, text deltas, the text done, completed."""
    texts = _pieces(pieces)
    at = {"item_id": "msg_bench", "output_index": 0, "content_index": 0}
    started = {**response_object(), "status": "in_progress", "output": [], "usage": None}
    events: list[dict[str, object]] = [{"type": "response.created", "response": started}]
    events += [{"type": "response.output_text.delta", **at, "delta": text} for text in texts]
    events.append({"type": "response.output_text.done", **at, "text": _ANSWER})
    events.append({"type": "response.completed", "response": response_object()})
    numbered = [{**event, "sequence_number": n} for n, event in enumerate(events)]
    return "".join(f"event: {e['type']}\ndata: {_compact(e)}\n\n" for e in numbered)


def _pieces(pieces: int) -> list[str]:
    """The answer cut into about ``pieces`` runs of words, spaces kept."""
    words = _ANSWER.split(" ")
    step = -(-len(words) // pieces)
    texts = [" ".join(words[i : i + step]) + " " for i in range(0, len(words), step)]
    texts[-1] = texts[-1].rstrip()
    return texts


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def _quote(text: str) -> str:
    """`text` as an nginx single-quoted string ($ would start a variable, so refuse it)."""
    if "$" in text:
        raise ValueError("canned bodies must not contain '$'")
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    return f"'{escaped}'"


def _long_return(body: str, piece: int = 3000) -> str:
    """``return 200 body;`` for a body longer than nginx's 4 KB limit on one parameter: the body
    is set in pieces into variables, and returned as their concatenation."""
    parts = [body[i : i + piece] for i in range(0, len(body), piece)]
    sets = "".join(f"            set $part{i} {_quote(p)};\n" for i, p in enumerate(parts))
    joined = "".join(f"$part{i}" for i in range(len(parts)))
    return f'{sets}            return 200 "{joined}";'


def _server(port: int, content_type: str, body: str, responses: str) -> str:
    models = {"object": "list", "data": [{"id": "mock", "object": "model", "owned_by": "bench"}]}
    return f"""
    server {{
        listen 127.0.0.1:{port};
        location = /v1/chat/completions {{
            default_type {content_type};
            return 200 {_quote(body)};
        }}
        location = /v1/responses {{
            default_type {content_type};
            return 200 {_quote(responses)};
        }}
        location = /v1/embeddings {{
            default_type application/json;
{_long_return(json.dumps(embeddings()))}
        }}
        location = /v1/models {{
            default_type application/json;
            return 200 {_quote(json.dumps(models))};
        }}
        location / {{
            return 404;
        }}
    }}"""


def nginx_conf(prefix: Path, plain_port: int, stream_port: int) -> str:
    """A complete nginx.conf: foreground, one worker, every writable path under `prefix`."""
    temp = prefix / "tmp"
    temp_paths = "\n".join(
        f"    {kind}_temp_path {temp / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # Keep-alive without limits: proxies hold pooled upstream connections for the whole run,
    # and a connection closed every 1,000 requests (nginx's default) would add reconnect noise.
    return f"""daemon off;
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log stderr warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
{temp_paths}
    keepalive_requests 1000000;
    keepalive_timeout 300s;
{_server(plain_port, "application/json", json.dumps(completion()), json.dumps(response_object()))}
{_server(stream_port, "text/event-stream", sse_stream(), responses_stream())}
}}
"""


@contextlib.contextmanager
def serve(name: str, *, cpu: int) -> Iterator[Mock]:
    """Run a mock named `name` (its files live in bench/.work/<name>) pinned to `cpu`."""
    prefix = procs.WORK_DIR / name
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    plain_port, stream_port = procs.free_port(), procs.free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_conf(prefix, plain_port, stream_port))
    log = procs.WORK_DIR / "logs" / f"{name}.log"
    cmd = ["nginx", "-p", str(prefix), "-c", str(conf), "-e", "stderr"]
    with procs.pinned(cmd, cpu=cpu, log=log) as proc:
        mock = Mock(
            f"http://127.0.0.1:{plain_port}/v1", f"http://127.0.0.1:{stream_port}/v1", proc.pid, log
        )
        for base in (mock.plain_base, mock.stream_base):
            ready = _answers(f"{base}/models")
            procs.wait_until(ready, proc, what=f"nginx mock {name}", log=log, timeout_s=10)
        yield mock


def _answers(url: str) -> Callable[[], bool]:
    return lambda: procs.http_status(url) == 200
