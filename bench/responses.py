"""Side by side: ``/v1/responses`` and ``/v1/chat/completions`` with memory on, one gateway.

The Responses API runs the same memory stages as chat (identity, retrieval, budget, injection,
the stream tap), so it must meet the same targets: memory on adds p50 <= 10 ms and p99 <= 25 ms.
This runs `compare`'s memory-on gateway (same seeded store of 100 users x 1,000 memories, same
config, pinned to the measured core) in front of `compare`'s nginx mock, which answers both APIs,
and sends one request at a time from the load core, alternating the two endpoints so that both
see the same machine at the same moment. Each endpoint is also called on the mock directly; the
difference of the percentiles is what the gateway adds. Streams are timed to their first event.

    python -m bench.responses [--requests 1000] [--streams 200] [--nice -20]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from bench import machine, mock, procs, targets, workload
from bench.run import LOAD_CORE, MEASURED_CORE

WARMUP = 100
#: Memory on: what the chat path must add at most (bench/README.md, "Targets").
TARGET_P50_MS, TARGET_P99_MS = 10.0, 25.0


def chat_body(n: int, *, stream: bool) -> bytes:
    return workload.chat_body("mock-stream" if stream else "mock-plain", n, stream=stream)


def responses_body(n: int, *, stream: bool) -> bytes:
    """The same request as ``chat_body``, in the Responses API's shape."""
    body: dict[str, object] = {
        "model": "mock-stream" if stream else "mock-plain",
        "max_output_tokens": 256,
        "instructions": workload.SYSTEM_PROMPT,
        "input": workload.question(n),
    }
    if stream:
        body["stream"] = True
    return json.dumps(body).encode()


BODIES: dict[str, Callable[..., bytes]] = {
    "chat": chat_body,
    "responses": responses_body,
}
PATHS = {"chat": "/chat/completions", "responses": "/responses"}


@dataclass
class Client:
    """One keep-alive connection to a base URL, timing each request."""

    base: str
    api_key: str

    def __post_init__(self) -> None:
        parts = urlsplit(self.base)
        self._prefix = parts.path
        self._connection = http.client.HTTPConnection(parts.netloc, timeout=30)

    def send(self, endpoint: str, n: int, *, stream: bool) -> tuple[float, str]:
        """Seconds to the whole answer (a stream: to its first event), and X-Memory-Status."""
        headers = {
            "Authorization": f"Bearer {self.api_key}",
            "Content-Type": "application/json",
            "X-User-Id": workload.user_id(n),
        }
        body = BODIES[endpoint](n, stream=stream)
        started = time.perf_counter()
        self._connection.request("POST", self._prefix + PATHS[endpoint], body, headers)
        response = self._connection.getresponse()
        if stream:
            while not response.readline().startswith((b"data:", b"event:")):
                pass
        elapsed = time.perf_counter() - started
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{endpoint} answered HTTP {response.status}")
        return elapsed, response.headers.get("x-memory-status", "")


def _ms(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


@dataclass(frozen=True)
class Added:
    """What the gateway added to one endpoint, in milliseconds, and the memory it found."""

    added_p50_ms: float
    added_p99_ms: float
    gateway_p50_ms: float
    direct_p50_ms: float
    memory_status: dict[str, int]

    @property
    def met(self) -> bool:
        return self.added_p50_ms <= TARGET_P50_MS and self.added_p99_ms <= TARGET_P99_MS


def _run(clients: dict[str, Client], requests: int, *, stream: bool) -> dict[str, Added]:
    """Alternate the endpoints, through the gateway and directly; the added percentiles."""
    times: dict[tuple[str, str], list[float]] = {}
    statuses: dict[str, Counter[str]] = {endpoint: Counter() for endpoint in PATHS}
    for n in range(WARMUP + requests):
        for index, endpoint in enumerate(PATHS):
            # Request numbers apart (even for chat, odd for responses): the gateway caches query
            # embeddings, and the same question twice in a row would make the second one free.
            number = 2 * n + index
            for via, client in clients.items():
                seconds, status = client.send(endpoint, number, stream=stream)
                if n >= WARMUP:
                    times.setdefault((via, endpoint), []).append(seconds)
                    if via == "gateway":
                        statuses[endpoint][status] += 1
    rows: dict[str, Added] = {}
    for endpoint in PATHS:
        gateway, direct = times["gateway", endpoint], times["direct", endpoint]
        rows[endpoint] = Added(
            added_p50_ms=round(_ms(gateway, 50) - _ms(direct, 50), 2),
            added_p99_ms=round(_ms(gateway, 99) - _ms(direct, 99), 2),
            gateway_p50_ms=round(_ms(gateway, 50), 2),
            direct_p50_ms=round(_ms(direct, 50), 2),
            memory_status=dict(statuses[endpoint]),
        )
    return rows


def _table(results: dict[str, dict[str, Added]]) -> str:
    lines = [
        "| endpoint | phase | added p50 ms | added p99 ms | X-Memory-Status |",
        "|---|---|---|---|---|",
    ]
    for phase, rows in results.items():
        for endpoint, row in rows.items():
            lines.append(
                f"| {PATHS[endpoint]} | {phase} | {row.added_p50_ms} | {row.added_p99_ms} "
                f"| {row.memory_status} |"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.responses", description=__doc__)
    parser.add_argument("--requests", type=int, default=1000, help="per endpoint, plain")
    parser.add_argument("--streams", type=int, default=200, help="per endpoint, streamed")
    parser.add_argument("--nice", type=int, default=0, help="niceness for everything (see compare)")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {LOAD_CORE})
    priority = procs.boosted_priority(args.nice) if args.nice else contextlib.nullcontext()
    with (
        priority,
        mock.serve("mock-responses", cpu=LOAD_CORE) as upstream,
        targets.gateway(upstream, cpu=MEASURED_CORE, memory=True) as target,
    ):
        base = target.plain_url.removesuffix("/chat/completions")
        results: dict[str, dict[str, Added]] = {}
        for phase, count, stream in (
            ("plain", args.requests, False),
            ("stream", args.streams, True),
        ):
            direct = upstream.stream_base if stream else upstream.plain_base
            clients = {
                "gateway": Client(base, target.api_key),
                "direct": Client(direct, "none"),
            }
            results[phase] = _run(clients, count, stream=stream)
    print(_table(results))
    met = {endpoint: row.met for endpoint, row in results["plain"].items()}
    print(
        f"\nmemory on, plain, added p50 <= {TARGET_P50_MS:g} ms and p99 <= {TARGET_P99_MS:g} ms: "
        + ", ".join(f"{PATHS[e]} {'met' if ok else 'missed'}" for e, ok in met.items()),
        file=sys.stderr,
    )
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    procs.save_results(
        f"responses-{stamp}.json",
        {
            "command": procs.command_line("python -m bench.responses", argv or sys.argv[1:]),
            "machine": machine.describe(),
            "results": {
                phase: {endpoint: asdict(row) for endpoint, row in rows.items()}
                for phase, rows in results.items()
            },
            "targets_met": met,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
