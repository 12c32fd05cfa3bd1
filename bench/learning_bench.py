"""Background learning under load: throughput, latency to memory, RSS, and the cost to chat p99.

    python bench/learning_bench.py [--quick] [--rounds 3] [--rate 40] [--exchanges 10000]

Everything runs for real: `gateway serve` (memory on, embedded Chroma, all-MiniLM-L6-v2) pinned
to core 0; a zero-latency mock provider (chat answers and extraction answers, one fact per
exchange derived from the user's words) and the load generator on core 1.

1. **Throughput**: jobs are journaled up front (through the journal's own ``enqueue``), then a
   gateway starts and works through them; exchanges per second between the 10th and 100th
   percentile of completions.
2. **Latency**: exchanges at a steady rate, each for a user of its own; time from the reply
   reaching the client to the memory being listed by the API (polled every 10 ms).
3. **RSS**: 10,000 exchanges over 200 users (5 recurring facts each), RSS after each 1,000
   once the queue is empty.
4. **Chat p99, extraction on vs off**: the same open-loop load against two gateways that differ
   only in ``extraction.enabled``, both started from copies of one store in which every load
   user already has the facts the load repeats (so both inject the same memories, and learning
   reinforces them); alternated for ``--rounds`` rounds; medians and their ratio.

The machine is shared and noisy: read the ratios, not the absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from aiohttp import web

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import proctree
from bench.procs import WORK_DIR, free_port, mock_provider, pinned, wait_until
from gateway.learning.journal import Journal, new_owner
from gateway.learning.service import JOURNAL_DB
from gateway.learning.transcript import Transcript
from gateway.store.records import Scope

KEY = "sk-bench"
MODEL_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "models" / "all-MiniLM-L6-v2"
GATEWAY_CORE, LOAD_CORE = 0, 1
LOAD_USERS = 100
THINGS = [
    "keep bees", "play the cello", "grow tomatoes", "run marathons", "collect stamps",
    "speak Portuguese", "repair bicycles", "bake sourdough", "climb mountains", "paint murals",
    "write poetry", "sail boats", "brew beer", "teach chemistry", "raise chickens",
]  # fmt: skip


# -- the mock provider ------------------------------------------------------------------------


def _fact_for(body: dict[str, Any]) -> bytes:
    exchange = orjson.loads(body["messages"][1]["content"])
    said = exchange["new_user_messages"][0].split(".")[0].removeprefix("I ")
    facts = {"facts": [{"content": f"User likes to {said}.", "category": "preference"}]}
    return orjson.dumps(facts)


async def _completion(request: web.Request) -> web.Response:
    body = await request.json()
    if body.get("model") == "bench-extractor":
        content = _fact_for(body).decode()
    else:
        content = "Noted, thanks."
        await asyncio.sleep(request.app["chat_delay_s"])
    reply = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
    }
    return web.Response(body=orjson.dumps(reply), content_type="application/json")


def run_mock(port: int, chat_delay_s: float) -> None:
    app = web.Application()
    app["chat_delay_s"] = chat_delay_s
    app.router.add_post("/v1/chat/completions", _completion)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def mock_process(chat_delay_ms: float = 0.0) -> contextlib.AbstractContextManager[str]:
    """The mock provider; chat answers take ``chat_delay_ms``, extraction answers no time."""
    args = ["--chat-delay-ms", str(chat_delay_ms)]
    return mock_provider(Path(__file__), "learning", cpu=LOAD_CORE, args=args, env=_env())


def _env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[1])
    return {"PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}


# -- the gateway ------------------------------------------------------------------------------


@dataclass
class Gateway:
    url: str
    pid: int
    data: Path


#: Extra settings for the ``extraction`` section (``--set key=value``).
EXTRACTION: dict[str, Any] = {}
#: ``memory.store.url`` when the store is a Chroma server (``--chroma-server``).
STORE_URL: list[str] = []
# `chroma run` without the ~4 s the console script spends importing the Python package first.
_CHROMA = "import sys, chromadb_rust_bindings as b; b.cli(['chroma'] + sys.argv[1:])"


def gateway_yaml(data: Path, mock_url: str, port: int, extraction: bool) -> str:
    model = {"api_base": mock_url + "/v1", "api_key": "sk-mock", "timeout_s": 30, "retries": 0}
    store: dict[str, str] = {"path": str(data / "chroma"), "state_dir": str(data / "state")}
    if STORE_URL:
        store = {"url": STORE_URL[0], "state_dir": str(data / "state")}
    config = {
        "server": {"port": port, "log_level": "warning"},
        "auth": {"keys": [{"key": KEY, "tenant": "bench"}]},
        "models": [
            {"name": "chat", "model": "openai/bench-chat", **model},
            {"name": "extractor", "model": "openai/bench-extractor", **model},
        ],
        "memory": {
            "store": store,
            "embedding": {"model_dir": str(MODEL_DIR / "onnx")},
        },
        "extraction": {
            "enabled": extraction,
            "model": "extractor",
            "max_backlog": 100_000,
            **EXTRACTION,
        },
    }
    return yaml.safe_dump(config)


@contextlib.contextmanager
def gateway(mock_url: str, extraction: bool = True, data: Path | None = None) -> Iterator[Gateway]:
    data = data or _scratch("learning-bench-")
    port = free_port()
    config = data / "gateway.yaml"
    config.write_text(gateway_yaml(data, mock_url, port, extraction))
    log = WORK_DIR / "logs" / f"learning-gateway-{port}.log"
    command = [sys.executable, "-m", "gateway", "serve", "--config", str(config)]
    with pinned(command, cpu=GATEWAY_CORE, log=log, env=_env()) as process:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _healthy(url), process, what="gateway", log=log, timeout_s=90)
        yield Gateway(url, process.pid, data)


def _run_dir() -> Path:
    """This run's own directory under WORK_DIR: every gateway's data and every Chroma server's
    goes inside, and ``main`` removes it at the end (each part's data is ~12 MB)."""
    return WORK_DIR / f"learning-bench-run-{os.getpid()}"


def _scratch(prefix: str) -> Path:
    run = _run_dir()
    run.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=run))


def _healthy(url: str) -> bool:
    return _healthy_at(url + "/healthz")


def _healthy_at(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def message(user: int, turn: int) -> str:
    thing = THINGS[(user * 7 + turn) % 5 + (user % 3) * 5]
    return f"I {thing}. What should I know about it?"


async def chat(session: aiohttp.ClientSession, url: str, user: str, text: str) -> float:
    body = {"model": "chat", "messages": [{"role": "user", "content": text}]}
    headers = {"Authorization": f"Bearer {KEY}", "X-User-Id": user}
    started = time.perf_counter()
    async with session.post(url + "/v1/chat/completions", json=body, headers=headers) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"chat answered {response.status}")
    return time.perf_counter() - started


async def metric(session: aiohttp.ClientSession, url: str, name: str) -> float:
    async with session.get(url + "/metrics") as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def wait_drained(session: aiohttp.ClientSession, url: str) -> None:
    for _ in range(36_000):  # 30 minutes
        if await metric(session, url, "gateway_extraction_queue_depth") == 0:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("the extraction queue did not drain")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# -- 1. throughput ----------------------------------------------------------------------------


def prefill(data: Path, jobs: int, users: int) -> None:
    journal = Journal(data / "state" / JOURNAL_DB, owner=new_owner(), max_backlog=jobs + 1)
    try:
        for n in range(jobs):
            text = message(n % users, n // users)
            transcript = Transcript(new=(text,), earlier=(), reply="Noted, thanks.")
            journal.enqueue(Scope("bench", f"user-{n % users}"), transcript.encode(), time.time())
    finally:
        journal.close()


async def throughput(mock_url: str, jobs: int) -> float:
    data = _scratch("learning-bench-")
    prefill(data, jobs, users=200)
    marks: dict[int, float] = {}
    with gateway(mock_url, data=data) as running:
        async with aiohttp.ClientSession() as session:
            first, last = jobs // 10, jobs
            while True:
                done = await metric(
                    session, running.url, 'gateway_extraction_jobs_total{outcome="done"}'
                )
                for mark in (first, last):
                    if done >= mark and mark not in marks:
                        marks[mark] = time.perf_counter()
                if done >= last:
                    break
                await asyncio.sleep(0.02)
    return (last - first) / (marks[last] - marks[first])


# -- 2. latency from reply to stored memory ---------------------------------------------------


async def latency_to_memory(mock_url: str, rate: float, count: int) -> list[float]:
    with gateway(mock_url) as running:
        async with aiohttp.ClientSession() as session:
            await chat(session, running.url, "warm-up", message(0, 0))

            async def one(n: int) -> float:
                user = f"latency-{n}"
                await chat(session, running.url, user, message(n, 0))
                replied = time.perf_counter()
                path = f"{running.url}/v1/users/{user}/memories"
                headers = {"Authorization": f"Bearer {KEY}"}
                while True:
                    async with session.get(path, headers=headers) as response:
                        if (await response.json())["data"]:
                            return time.perf_counter() - replied
                    await asyncio.sleep(0.01)

            return await open_loop(rate, count, one)


async def open_loop(rate: float, count: int, task: Any) -> list[float]:
    """Start ``task(n)`` at ``rate`` per second whatever the answers' pace; their results."""
    started = time.perf_counter()
    running = []
    for n in range(count):
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        running.append(asyncio.create_task(task(n)))
    return list(await asyncio.gather(*running))


# -- 3. RSS over many exchanges ---------------------------------------------------------------


async def rss_over(mock_url: str, exchanges: int, step: int) -> list[tuple[int, float]]:
    samples = []
    with gateway(mock_url) as running:
        connector = aiohttp.TCPConnector(limit=8)
        async with aiohttp.ClientSession(connector=connector) as session:
            for start in range(0, exchanges, step):
                await asyncio.gather(
                    *(
                        chat(session, running.url, f"user-{n % 200}", message(n % 200, n // 200))
                        for n in range(start, start + step)
                    )
                )
                await wait_drained(session, running.url)
                samples.append((start + step, proctree.rss_bytes(running.pid) / 2**20))
                print(f"  {start + step:6d} exchanges: RSS {samples[-1][1]:.1f} MiB", flush=True)
    return samples


# -- 4. chat p99 with extraction on and off ---------------------------------------------------


async def chat_latencies(url: str, rate: float, seconds: float) -> list[float]:
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:
        users = [f"load-{n}" for n in range(100)]
        await open_loop(
            rate, int(rate * 2), lambda n: chat(session, url, users[n % 100], message(n, 1))
        )
        latencies = await open_loop(
            rate,
            int(rate * seconds),
            lambda n: chat(session, url, users[n % 100], message(n % 100, n // 100)),
        )
        await wait_drained(session, url)
        return latencies


async def seed(mock_url: str) -> Path:
    """A data directory in which every load user already has every fact the load will repeat,
    so both gateways of part 4 serve the same memories and learning only reinforces them."""
    data = _scratch("learning-bench-seed-")
    with gateway(mock_url, data=data) as running:
        connector = aiohttp.TCPConnector(limit=8)
        async with aiohttp.ClientSession(connector=connector) as session:
            await asyncio.gather(
                *(
                    chat(session, running.url, f"load-{user}", message(user, turn))
                    for user in range(LOAD_USERS)
                    for turn in range(5)
                )
            )
            await wait_drained(session, running.url)
    return data


def copy_of(data: Path, name: str) -> Path:
    """A copy of a seeded data directory (with a Chroma server, both share the server's data)."""
    target = _scratch(f"learning-bench-{name}-")
    for part in ("chroma", "state"):
        if (data / part).exists():
            shutil.copytree(data / part, target / part)
    return target


@contextlib.contextmanager
def chroma_server() -> Iterator[str]:
    port = free_port()
    data = _scratch("learning-bench-chroma-")
    log = WORK_DIR / "logs" / f"learning-chroma-{port}.log"
    command = [sys.executable, "-c", _CHROMA, "run", "--path", str(data), "--port", str(port)]
    with pinned(command, cpu=LOAD_CORE, log=log) as process:
        url = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: _healthy_at(url + "/api/v2/heartbeat"),
            process,
            what="chroma",
            log=log,
            timeout_s=60,
        )
        yield url


async def p99_on_off(
    mock_url: str, rate: float, seconds: float, rounds: int
) -> dict[str, list[float]]:
    seeded = await seed(mock_url)
    results: dict[str, list[float]] = {"off": [], "on": []}
    with (
        gateway(mock_url, extraction=False, data=copy_of(seeded, "off")) as off,
        gateway(mock_url, extraction=True, data=copy_of(seeded, "on")) as on,
    ):
        for round_ in range(rounds):
            order = [("off", off), ("on", on)] if round_ % 2 == 0 else [("on", on), ("off", off)]
            for name, running in order:
                latencies = await chat_latencies(running.url, rate, seconds)
                results[name].append(percentile(latencies, 0.99) * 1000)
                p50 = percentile(latencies, 0.5) * 1000
                print(
                    f"  round {round_ + 1} {name:3s}: p50 {p50:6.1f} ms  p99 {results[name][-1]:6.1f} ms",
                    flush=True,
                )
    return results


# -- the report -------------------------------------------------------------------------------


async def main_async(args: argparse.Namespace) -> None:
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    parts = set((args.only or "1,2,3,4").split(","))
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with mock_process() as mock_url:
        if "1" in parts:
            print("1. extraction throughput (zero-latency model)")
            rates = [await throughput(mock_url, args.jobs) for _ in range(args.rounds)]
            listed = " / ".join(f"{r:.1f}" for r in rates)
            print(f"  {listed} exchanges/s; median {statistics.median(rates):.1f}")
        if "2" in parts:
            print(
                f"2. reply -> stored memory, {args.latency_rate:g}/s, {args.latency_count} exchanges"
            )
            delays = [
                d * 1000
                for d in await latency_to_memory(mock_url, args.latency_rate, args.latency_count)
            ]
            print(
                f"  p50 {percentile(delays, 0.5):.0f} ms  p95 {percentile(delays, 0.95):.0f} ms"
                f"  p99 {percentile(delays, 0.99):.0f} ms  max {max(delays):.0f} ms"
            )
        if "3" in parts:
            print(f"3. RSS over {args.exchanges} exchanges")
            samples = await rss_over(mock_url, args.exchanges, max(args.exchanges // 10, 1))
            first = samples[min(1, len(samples) - 1)]
            print(
                f"  from {first[0]} to {samples[-1][0]} exchanges: {samples[-1][1] - first[1]:+.1f} MiB"
            )
    if "4" in parts:
        for delay in args.chat_delay_ms or [0.0, 300.0]:
            print(f"4. chat at {args.rate:g} req/s, provider {delay:g} ms, {args.seconds:g} s runs")
            with mock_process(delay) as mock_url:
                p99 = await p99_on_off(mock_url, args.rate, args.seconds, args.rounds)
            off, on = statistics.median(p99["off"]), statistics.median(p99["on"])
            ratios = " ".join(f"{b / a:.2f}" for a, b in zip(p99["off"], p99["on"], strict=True))
            print(f"  median p99 off {off:.1f} ms, on {on:.1f} ms: on/off {on / off:.2f}")
            print(f"  per-round on/off: {ratios}")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parse.add_subparsers(dest="command")
    mock = commands.add_parser("mock", help="(internal) run the mock provider")
    mock.add_argument("--port", type=int, required=True)
    mock.add_argument("--chat-delay-ms", type=float, default=0.0)
    parse.add_argument("--quick", action="store_true", help="small runs: a smoke test")
    parse.add_argument("--rounds", type=int, default=3)
    parse.add_argument("--jobs", type=int, default=2000)
    parse.add_argument("--latency-rate", type=float, default=5.0)
    parse.add_argument("--latency-count", type=int, default=200)
    parse.add_argument("--exchanges", type=int, default=10_000)
    parse.add_argument("--rate", type=float, default=40.0, help="chat requests per second")
    parse.add_argument("--seconds", type=float, default=20.0)
    parse.add_argument(
        "--chat-delay-ms",
        type=float,
        action="append",
        help="provider time per chat answer in part 4 (repeatable; default 0 and 300)",
    )
    parse.add_argument("--only", help="comma-separated parts to run (1,2,3,4)")
    parse.add_argument(
        "--chroma-server", action="store_true", help="store memories in a `chroma run` on core 1"
    )
    parse.add_argument(
        "--set", action="append", default=[], help="an extraction setting, e.g. busy_share=0.1"
    )
    return parse


def main() -> int:
    args = parser().parse_args()
    if args.command == "mock":
        run_mock(args.port, args.chat_delay_ms / 1000)
        return 0
    if args.quick:
        args.rounds, args.jobs, args.latency_count = 1, 300, 30
        args.exchanges, args.seconds = 1000, 5.0
    for setting in args.set:
        key, _, value = setting.partition("=")
        EXTRACTION[key] = yaml.safe_load(value)
    random.seed(1)
    with contextlib.ExitStack() as stack:
        # Registered first, so it runs last: after the Chroma server has stopped.
        stack.callback(shutil.rmtree, _run_dir(), ignore_errors=True)
        if args.chroma_server:
            STORE_URL.append(stack.enter_context(chroma_server()))
        asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
