"""Soak: minutes of mixed chat traffic with memory and extraction on; RSS, latency, backlog.

    python bench/soak.py [--minutes 10] [--rate 15] [--users 200] [--stream-share 0.3]

Everything runs for real: ``gateway serve`` (memory on, embedded Chroma, all-MiniLM-L6-v2,
extraction on with its defaults) pinned to core 0; on core 1 a mock provider answering chat
(a JSON completion, or an SSE stream when asked) and extraction (the ``bench-extractor`` model:
one fact derived from the user's words), and the load generator.

Load: an open loop at ``--rate`` requests per second (whatever the answers' pace), a
``--stream-share`` of them streamed, from ``--users`` users. Each message states one fact and
asks a question never asked before: most often the fact is one of the user's five recurring
ones (extraction finds a duplicate and reinforces it), otherwise a new one (a new memory).

Reported: RSS after warm-up, every minute and at the end; requests and errors by status;
p50/p99 latency per minute (streams: to ``[DONE]``); extraction jobs by outcome and the queue
depth from ``/metrics`` every minute; how long the backlog takes to drain once traffic stops.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from aiohttp import web

if __package__ in (None, ""):  # run as a script: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import machine, proctree
from bench.learning_bench import KEY, THINGS, gateway_yaml
from bench.procs import (
    REPO_DIR,
    WORK_DIR,
    command_line,
    free_port,
    http_status,
    mock_provider,
    pinned,
    save_results,
    wait_until,
)
from bench.workload import question

GATEWAY_CORE, LOAD_CORE = 0, 1
EXTRACTOR_MODEL = "bench-extractor"
STREAM_CHUNKS = ("Noted", ",", " thanks", ".", " Anything", " else", "?", "")
JOB_OUTCOMES = ("done", "failed", "invalid_json", "dropped", "retried")


# -- the mock provider (core 1) ---------------------------------------------------------------


def fact_for(body: dict[str, Any]) -> bytes:
    """The extraction answer: the first sentence of what the user said, as a fact."""
    exchange = orjson.loads(body["messages"][1]["content"])
    said = exchange["new_user_messages"][0].split(".")[0].removeprefix("I ")
    return orjson.dumps({"facts": [{"content": f"User said they {said}.", "category": "fact"}]})


def _completion(model: str, content: str) -> bytes:
    return orjson.dumps(
        {
            "id": "chatcmpl-soak",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
        }
    )


def _chunk(model: str, delta: dict[str, str], finish: str | None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    payload = {"id": "chatcmpl-soak", "object": "chat.completion.chunk", "created": 0}
    return b"data: " + orjson.dumps({**payload, "model": model, "choices": [choice]}) + b"\n\n"


async def _stream(request: web.Request, model: str) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(_chunk(model, {"role": "assistant", "content": ""}, None))
    for piece in STREAM_CHUNKS[:-1]:
        await response.write(_chunk(model, {"content": piece}, None))
    await response.write(_chunk(model, {}, "stop"))
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


async def _answer(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    model = str(body.get("model"))
    if model == EXTRACTOR_MODEL:
        return web.Response(body=_completion(model, fact_for(body).decode()))
    if body.get("stream"):
        return await _stream(request, model)
    return web.Response(body=_completion(model, "Noted, thanks."), content_type="application/json")


def run_mock(port: int) -> None:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", _answer)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def mock_process() -> contextlib.AbstractContextManager[str]:
    return mock_provider(
        Path(__file__).resolve(), "soak", cpu=LOAD_CORE, env={"PYTHONPATH": str(REPO_DIR)}
    )


def _up(url: str) -> bool:
    return http_status(url) == 200


# -- the gateway (core 0) ---------------------------------------------------------------------


@dataclass
class Gateway:
    url: str
    pid: int


@contextlib.contextmanager
def gateway_process(mock_url: str, max_backlog: int) -> Iterator[Gateway]:
    """``gateway serve`` with learning_bench's config, extraction's backlog at ``max_backlog``."""
    data = Path(tempfile.mkdtemp(prefix="soak-", dir=WORK_DIR))
    port = free_port()
    config = yaml.safe_load(gateway_yaml(data, mock_url, port, extraction=True))
    config["extraction"]["max_backlog"] = max_backlog
    path = data / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    log = WORK_DIR / "logs" / f"soak-gateway-{port}.log"
    command = [sys.executable, "-m", "gateway", "serve", "--config", str(path)]
    try:
        env = {"PYTHONPATH": str(REPO_DIR)}
        with pinned(command, cpu=GATEWAY_CORE, log=log, env=env) as proc:
            url = f"http://127.0.0.1:{port}"
            wait_until(lambda: _up(url + "/healthz"), proc, what="gateway", log=log, timeout_s=90)
            yield Gateway(url, proc.pid)
    finally:
        # The gateway has exited: its store and journal are only this run's scratch.
        shutil.rmtree(data, ignore_errors=True)


# -- the load (core 1) ------------------------------------------------------------------------


@dataclass
class Sent:
    """One request: when it started (s since the run began), how long it took, its status."""

    at: float
    seconds: float
    status: str
    stream: bool


class Traffic:
    """Request texts: each user has five recurring facts; some messages bring a new one."""

    def __init__(self, users: int, new_share: float, stream_share: float, seed: int = 1) -> None:
        self._users = users
        self._new_share = new_share
        self._stream_share = stream_share
        self._rng = random.Random(seed)
        self._new = 0
        self._sent = 0

    def next(self) -> tuple[str, str, bool]:
        user = self._rng.randrange(self._users)
        if self._rng.random() < self._new_share:
            self._new += 1
            fact = f"visited the town of Newham-{self._new} last weekend"
        else:
            fact = THINGS[(user * 7 + self._rng.randrange(5)) % len(THINGS)]
        # A question of its own each time, as people write: an exact repeat would be answered
        # by the retriever's query-vector cache and make retrieval look free.
        self._sent += 1
        text = f"I {fact}. {question(self._sent)}"
        return f"soak-user-{user:03d}", text, self._rng.random() < self._stream_share


async def send(
    session: aiohttp.ClientSession, url: str, user: str, text: str, stream: bool
) -> tuple[float, str]:
    body: dict[str, Any] = {"model": "chat", "messages": [{"role": "user", "content": text}]}
    if stream:
        body["stream"] = True
    headers = {"Authorization": f"Bearer {KEY}", "X-User-Id": user}
    started = time.perf_counter()
    try:
        async with session.post(url + "/v1/chat/completions", json=body, headers=headers) as r:
            raw = await r.read()
            status = str(r.status)
            if r.status == 200 and stream and not raw.rstrip().endswith(b"data: [DONE]"):
                status = "broken-stream"
    except (aiohttp.ClientError, TimeoutError) as exc:
        status = type(exc).__name__
    return time.perf_counter() - started, status


async def open_loop(
    session: aiohttp.ClientSession, url: str, traffic: Traffic, rate: float, seconds: float
) -> list[Sent]:
    """Requests at ``rate`` per second for ``seconds``, not waiting for answers."""
    began = time.perf_counter()
    sent: list[Sent] = []

    async def one(at: float) -> None:
        user, text, stream = traffic.next()
        took, status = await send(session, url, user, text, stream)
        sent.append(Sent(at, took, status, stream))

    tasks = []
    for n in range(int(rate * seconds)):
        delay = began + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n / rate)))
    await asyncio.gather(*tasks)
    return sent


# -- observing the gateway --------------------------------------------------------------------


@dataclass
class Sample:
    at: float
    rss_mib: float
    cpu_s: float
    queue: float
    jobs: dict[str, float]


async def metrics(session: aiohttp.ClientSession, url: str) -> dict[str, float]:
    async with session.get(url + "/metrics") as response:
        text = await response.text()
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(("gateway_extraction_queue_depth", "gateway_extraction_jobs_total{")):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


async def sample(session: aiohttp.ClientSession, gw: Gateway, at: float) -> Sample:
    found = await metrics(session, gw.url)
    jobs = {
        outcome: found.get(f'gateway_extraction_jobs_total{{outcome="{outcome}"}}', 0.0)
        for outcome in JOB_OUTCOMES
    }
    return Sample(
        at,
        proctree.rss_bytes(gw.pid) / 2**20,
        proctree.cpu_seconds(gw.pid),
        found.get("gateway_extraction_queue_depth", 0.0),
        jobs,
    )


async def every_minute(
    session: aiohttp.ClientSession, gw: Gateway, began: float, minutes: int, out: list[Sample]
) -> None:
    for minute in range(1, minutes + 1):
        await asyncio.sleep(began + 60 * minute - time.perf_counter())
        out.append(await sample(session, gw, time.perf_counter() - began))
        last = out[-1]
        print(
            f"[soak] minute {minute}: RSS {last.rss_mib:.0f} MiB, queue {last.queue:.0f}, "
            f"jobs done {last.jobs['done']:.0f}",
            file=sys.stderr,
            flush=True,
        )


async def drain(session: aiohttp.ClientSession, gw: Gateway, limit_s: float) -> float | None:
    """Seconds until the extraction queue is empty, or None past ``limit_s``."""
    began = time.perf_counter()
    while time.perf_counter() - began < limit_s:
        if (await metrics(session, gw.url)).get("gateway_extraction_queue_depth", 0.0) == 0:
            return time.perf_counter() - began
        await asyncio.sleep(0.5)
    return None


# -- the run ----------------------------------------------------------------------------------


@dataclass
class Soak:
    settings: dict[str, Any]
    warm: Sample | None = None
    samples: list[Sample] = field(default_factory=list)
    requests: list[Sent] = field(default_factory=list)
    at_stop: Sample | None = None
    drain_s: float | None = None
    drained: Sample | None = None


async def soak(args: argparse.Namespace, gw: Gateway) -> Soak:
    result = Soak(settings=vars(args).copy())
    traffic = Traffic(args.users, args.new_share, args.stream_share)
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=512)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        await open_loop(session, gw.url, traffic, args.rate, args.warmup)
        await drain(session, gw, args.drain_limit)
        result.warm = await sample(session, gw, 0.0)
        began = time.perf_counter()
        sampler = asyncio.create_task(
            every_minute(session, gw, began, int(args.minutes), result.samples)
        )
        result.requests = await open_loop(session, gw.url, traffic, args.rate, 60 * args.minutes)
        result.at_stop = await sample(session, gw, time.perf_counter() - began)
        await sampler
        result.drain_s = await drain(session, gw, args.drain_limit)
        result.drained = await sample(session, gw, time.perf_counter() - began)
    return result


# -- the report -------------------------------------------------------------------------------


def _pct(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def render(result: Soak) -> str:
    assert result.warm is not None
    assert result.at_stop is not None
    assert result.drained is not None
    lines = [
        "| minute | requests | errors | plain p50 / p99 ms | stream p50 / p99 ms "
        "| gateway CPU | RSS MiB | queue | jobs done (cum.) | dropped (cum.) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| warm | | | | | | {result.warm.rss_mib:.0f} | {result.warm.queue:.0f} | "
        f"{result.warm.jobs['done']:.0f} | {result.warm.jobs['dropped']:.0f} |",
    ]
    previous = result.warm
    for minute, sample_ in enumerate(result.samples, start=1):
        window = [s for s in result.requests if minute - 1 <= s.at / 60 < minute]
        plain = [s.seconds for s in window if not s.stream and s.status == "200"]
        streamed = [s.seconds for s in window if s.stream and s.status == "200"]
        errors = sum(s.status != "200" for s in window)
        busy = (sample_.cpu_s - previous.cpu_s) / (sample_.at - previous.at or 60.0)
        lines.append(
            f"| {minute} | {len(window)} | {errors} | {_pct(plain, 0.5):.1f} / "
            f"{_pct(plain, 0.99):.1f} | {_pct(streamed, 0.5):.1f} / {_pct(streamed, 0.99):.1f} | "
            f"{100 * busy:.0f}% | {sample_.rss_mib:.0f} | {sample_.queue:.0f} | "
            f"{sample_.jobs['done']:.0f} | {sample_.jobs['dropped']:.0f} |"
        )
        previous = sample_
    statuses: dict[str, int] = {}
    for sent in result.requests:
        statuses[sent.status] = statuses.get(sent.status, 0) + 1
    done, stop = result.drained, result.at_stop
    drain_text = "not within the limit" if result.drain_s is None else f"{result.drain_s:.1f} s"
    lines += [
        "",
        f"Requests: {len(result.requests)}; by status: "
        + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())),
        f"RSS: {result.warm.rss_mib:.0f} MiB after warm-up, {stop.rss_mib:.0f} MiB when traffic "
        f"stopped, {done.rss_mib:.0f} MiB once drained.",
        f"Extraction queue when traffic stopped: {stop.queue:.0f}; drained in {drain_text}.",
        "Extraction jobs (whole run incl. warm-up, after draining): "
        + ", ".join(f"{k} {v:.0f}" for k, v in done.jobs.items()),
    ]
    return "\n".join(lines)


#: How this command is typed (also `python bench/soak.py`).
PROG = "python -m bench soak"

# -- command line -----------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    commands = parse.add_subparsers(dest="command")
    mock = commands.add_parser("mock", help="(internal) run the mock provider")
    mock.add_argument("--port", type=int, required=True)
    parse.add_argument("--minutes", type=float, default=10)
    parse.add_argument("--rate", type=float, default=15.0, help="requests per second")
    parse.add_argument("--users", type=int, default=200)
    parse.add_argument("--stream-share", type=float, default=0.3)
    parse.add_argument("--new-share", type=float, default=0.3, help="messages with a new fact")
    parse.add_argument("--warmup", type=float, default=30.0, help="seconds of traffic first")
    parse.add_argument("--max-backlog", type=int, default=10_000, help="extraction.max_backlog")
    parse.add_argument(
        "--drain-limit", type=float, default=1200.0, help="seconds to wait for the queue"
    )
    return parse


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    if args.command == "mock":
        run_mock(args.port)
        return 0
    os.sched_setaffinity(0, {LOAD_CORE})
    started = time.strftime("%Y%m%d-%H%M%S")
    info = machine.describe()
    with mock_process() as mock_url, gateway_process(mock_url, args.max_backlog) as gw:
        result = asyncio.run(soak(args, gw))
    text = render(result)
    print(text)
    payload = {"command": command_line(PROG, argv), "started": started, "machine": info}
    payload |= {"table": text, **asdict(result)}
    save_results(f"soak-{started}.json", payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
