"""The floor of any proxy in the benchmark's placement: a bare TCP relay on core 0.

    python -m bench.relay_floor [--duration 15]

`compare` puts the target on core 0 and wrk plus the nginx mock on core 1, so a proxied request
crosses cores four times while the baseline (wrk -> nginx, both on core 1) crosses none. This
relay forwards bytes between wrk and nginx with nothing else (no HTTP parsing, one upstream
connection per client connection, uvloop), so the latency it adds over the baseline is what the
placement itself costs; a gateway cannot add less.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import mock, procs, workload, wrk

MEASURED_CORE, LOAD_CORE = 0, 1


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


async def _relay(upstream_port: int, port: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        await asyncio.gather(
            _pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True
        )

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


@contextlib.contextmanager
def _running_relay(upstream_port: int) -> Iterator[int]:
    port = procs.free_port()
    command = [sys.executable, "-m", "bench.relay_floor", "relay", str(upstream_port), str(port)]
    log = procs.WORK_DIR / "logs" / "relay-floor.log"
    with procs.pinned(command, cpu=MEASURED_CORE, log=log, cwd=procs.REPO_DIR) as process:
        procs.wait_until(lambda: _listening(port), process, what="relay", log=log, timeout_s=10)
        yield port


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.relay_floor", description=__doc__)
    parser.add_argument("--duration", type=int, default=15, help="seconds per run")
    parser.add_argument("relay", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.relay:  # the relay process itself: relay UPSTREAM_PORT PORT
        import uvloop

        uvloop.run(_relay(int(args.relay[1]), int(args.relay[2])))
        return 0
    os.sched_setaffinity(0, {LOAD_CORE})
    questions = workload.write_questions(procs.WORK_DIR / "questions.txt")
    with mock.serve("mock-upstream", cpu=LOAD_CORE) as upstream:
        direct = upstream.plain_base + "/chat/completions"
        upstream_port = urllib.parse.urlparse(upstream.plain_base).port or 80
        with _running_relay(upstream_port) as port:
            relayed = direct.replace(f":{upstream_port}", f":{port}")
            results = {}
            for name, url in (("mock direct", direct), ("bare relay on core 0", relayed)):
                load = wrk.Load(url, "mock-plain", "unused", questions, workload.USERS)
                wrk.run(load, connections=1, duration_s=3, cpu=LOAD_CORE)
                results[name] = wrk.run(
                    load, connections=1, duration_s=args.duration, cpu=LOAD_CORE
                )
    base = results["mock direct"]
    print("| at 1 connection | p50 ms | p90 ms | p99 ms | added p50 | added p99 |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        added = (r.p50_ms - base.p50_ms, r.p99_ms - base.p99_ms)
        print(
            f"| {name} | {r.p50_ms:.2f} | {r.p90_ms:.2f} | {r.p99_ms:.2f} | "
            f"{added[0]:.2f} | {added[1]:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
