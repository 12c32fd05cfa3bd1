"""What ``POST /v1/messages`` adds beside ``POST /v1/chat/completions``, memory on.

    python -m bench.messages_overhead [--requests 400] [--memories 1000]

One gateway process (memory on, embedded store, extraction off) in front of one canned mock
that answers both wire formats; a user with ``--memories`` memories. The two endpoints are
asked in turn, request by request, so whatever else the machine is doing falls on both alike,
and the mock is asked directly in the same turns, for the floor. Prints, per endpoint, the
latency the gateway adds (p50 and p99 of the gateway's latency minus the direct p50) and its
own ``X-Gateway-Overhead-Ms``; writes the figures to ``bench/results/messages-<time>.json``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from bench import procs
from bench.targets import EMBEDDING_MODEL_DIR

KEY = "bench-key"
USER = "bench-user"
QUESTION = "What should I do in my garden this weekend, given what you know about me?"
CHAT = orjson.dumps(
    {
        "id": "c",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Plant tomatoes."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    }
)
MESSAGE = orjson.dumps(
    {
        "id": "m",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [{"type": "text", "text": "Plant tomatoes."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 9, "output_tokens": 3},
    }
)
ENDPOINTS = {
    "chat": ("/v1/chat/completions", "fouro"),
    "messages": ("/v1/messages", "claude"),
}


def serve_mock(port: int) -> None:
    from aiohttp import web

    async def chat(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=CHAT, content_type="application/json")

    async def messages(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=MESSAGE, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/messages", messages)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def config(work: Path, mock: str) -> dict[str, Any]:
    return {
        "auth": {"keys": [{"key": KEY, "tenant": "bench"}]},
        "models": [
            {
                "name": "fouro",
                "model": "openai/gpt-4o-mini",
                "api_base": f"{mock}/v1",
                "api_key": "sk-x",
            },
            {"name": "claude", "model": "anthropic/claude-x", "api_base": mock, "api_key": "sk-x"},
        ],
        "memory": {
            "store": {"path": str(work / "chroma"), "state_dir": str(work / "state")},
            "embedding": {"model_dir": str(EMBEDDING_MODEL_DIR)},
        },
        "context": {"budget_tokens": 1000},
        "extraction": {"enabled": False},
    }


def body(endpoint: str, model: str, index: int) -> dict[str, Any]:
    # A question of its own each time: a repeated one would be answered from the query cache.
    messages = [{"role": "user", "content": f"{QUESTION} ({endpoint} #{index})"}]
    if endpoint == "messages":
        return {"model": model, "max_tokens": 50, "messages": messages}
    return {"model": model, "messages": messages}


def seed(client: httpx.Client, count: int) -> None:
    topics = ["garden", "bees", "travel", "work", "family", "food", "music", "health", "books"]
    for start in range(0, count, 100):
        items = [
            {
                "content": f"Note {i}: the user mentioned {topics[i % len(topics)]} "
                f"detail number {i * 7919 % 1000}."
            }
            for i in range(start, min(start + 100, count))
        ]
        client.post(f"/v1/users/{USER}/memories", json={"memories": items}).raise_for_status()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure(gateway: httpx.Client, direct: httpx.Client, requests: int) -> dict[str, Any]:
    timings: dict[str, dict[str, list[float]]] = {
        name: {"gateway": [], "direct": [], "overhead": []} for name in ENDPOINTS
    }
    headers = {"X-User-Id": USER}
    for index in range(requests + 50):
        for name, (path, model) in ENDPOINTS.items():
            payload = orjson.dumps(body(name, model, index))
            started = time.perf_counter()
            answer = gateway.post(path, content=payload, headers=headers)
            through = time.perf_counter() - started
            answer.raise_for_status()
            assert answer.headers["x-memory-status"] == "ok", answer.headers
            started = time.perf_counter()
            direct.post(path, content=payload).raise_for_status()
            floor = time.perf_counter() - started
            if index >= 50:  # the first ones warm the user's index and the pools
                timings[name]["gateway"].append(through * 1000)
                timings[name]["direct"].append(floor * 1000)
                timings[name]["overhead"].append(float(answer.headers["x-gateway-overhead-ms"]))
    return {name: summary(t) for name, t in timings.items()}


def summary(timings: dict[str, list[float]]) -> dict[str, float]:
    floor = statistics.median(timings["direct"])
    return {
        "added_p50_ms": round(statistics.median(timings["gateway"]) - floor, 2),
        "added_p99_ms": round(percentile(timings["gateway"], 0.99) - floor, 2),
        "overhead_p50_ms": round(statistics.median(timings["overhead"]), 2),
        "overhead_p99_ms": round(percentile(timings["overhead"], 0.99), 2),
        "direct_p50_ms": round(floor, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--memories", type=int, default=1000)
    parser.add_argument("--mock", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mock:
        serve_mock(args.mock)
        return
    with tempfile.TemporaryDirectory(prefix="bench-messages-") as scratch:
        work = Path(scratch)
        mock_port, gateway_port = procs.free_port(), procs.free_port()
        mock_url = f"http://127.0.0.1:{mock_port}"
        config_path = work / "gateway.yaml"
        config_path.write_text(yaml.safe_dump(config(work, mock_url)))
        command = [sys.executable, "-m", "bench.messages_overhead", "--mock", str(mock_port)]
        log = (work / "gateway.log").open("wb")
        # Each in its own session: ``procs.stop`` signals the whole process group.
        mock = subprocess.Popen(command, start_new_session=True)
        serve = ["serve", "--config", str(config_path), "--port", str(gateway_port)]
        gateway = subprocess.Popen(
            [sys.executable, "-m", "gateway", *serve],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        try:
            results = run(f"http://127.0.0.1:{gateway_port}", mock_url, args)
        finally:
            procs.stop(gateway)
            procs.stop(mock)
    print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    out = Path(__file__).parent / "results" / f"messages-{stamp}.json"
    out.write_bytes(orjson.dumps({"command": " ".join(sys.argv), **results}))


def run(gateway_url: str, mock_url: str, args: argparse.Namespace) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    with (
        httpx.Client(base_url=gateway_url, headers=auth, timeout=60) as gateway,
        httpx.Client(base_url=mock_url, headers=auth, timeout=60) as direct,
    ):
        deadline = time.monotonic() + 120
        while True:
            try:
                if gateway.get("/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.2)
        seed(gateway, args.memories)
        return {
            "requests": args.requests,
            "memories": args.memories,
            **measure(gateway, direct, args.requests),
        }


if __name__ == "__main__":
    main()
