"""Drive a target with wrk (one thread, on the load core) and read back its JSON summary."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

LUA_SCRIPT = Path(__file__).with_name("chat.lua")
_MARKER = "WRK_JSON "


@dataclass(frozen=True)
class WrkResult:
    """One wrk run; latencies in milliseconds."""

    connections: int
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    mean_ms: float
    max_ms: float
    non2xx: int
    socket_errors: int


@dataclass(frozen=True)
class Load:
    """Where to send requests and as whom."""

    url: str
    model: str
    api_key: str
    questions: Path
    users: int
    #: ``chat`` (a chat completion) or ``embeddings`` (one text to embed).
    kind: str = "chat"


def run(
    load: Load, *, connections: int, duration_s: int, cpu: int, pause_ms: int | None = None
) -> WrkResult:
    """Run wrk for `duration_s` seconds with `connections` keep-alive connections.

    One wrk thread: wrk shares its core with the mock upstream, and a second thread on the same
    core would only add context switches. A generous --timeout keeps slow answers in the latency
    figures instead of turning them into timeouts. ``pause_ms`` paces each connection (a
    pause before each request; see chat.lua).
    """
    cmd = [
        *("taskset", "-c", str(cpu), "wrk", "-t1", f"-c{connections}", f"-d{duration_s}s"),
        *("--timeout", "10s", "-s", str(LUA_SCRIPT), load.url, "--"),
        *(load.api_key, load.model, str(load.questions), str(load.users), load.kind),
    ]
    env = dict(os.environ)
    if pause_ms is not None:
        env["WRK_PAUSE_MS"] = str(pause_ms)
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return parse(done.stdout, connections)


def parse(stdout: str, connections: int) -> WrkResult:
    """The result from the line `chat.lua` prints in its done() hook."""
    lines = [line for line in stdout.splitlines() if line.startswith(_MARKER)]
    if not lines:
        raise RuntimeError(f"wrk printed no summary line:\n{stdout[-1000:]}")
    raw = json.loads(lines[-1].removeprefix(_MARKER))
    duration_s = raw["duration_us"] / 1e6
    return WrkResult(
        connections=connections,
        requests=raw["requests"],
        duration_s=duration_s,
        rps=raw["requests"] / duration_s if duration_s else 0.0,
        p50_ms=raw["p50_us"] / 1e3,
        p90_ms=raw["p90_us"] / 1e3,
        p99_ms=raw["p99_us"] / 1e3,
        p999_ms=raw["p999_us"] / 1e3,
        mean_ms=raw["mean_us"] / 1e3,
        max_ms=raw["max_us"] / 1e3,
        non2xx=raw["non2xx"],
        socket_errors=sum(raw[k] for k in ("connect_errors", "read_errors", "write_errors"))
        + raw["timeouts"],
    )
