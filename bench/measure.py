"""Measure one running target: warm-up, latency at 1 connection, load, RSS, CPU, TTFT."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench import proctree, ttft, workload, wrk
from bench.cpu import CpuUse, CpuWindow, settle
from bench.rss import RssSampler, RssSummary
from bench.targets import Target


@dataclass(frozen=True)
class Settings:
    """How long and how hard to drive each target; the cores everything runs on."""

    duration_s: int
    warmup_s: int
    load_connections: int
    ttft_requests: int
    measured_core: int
    load_core: int
    #: Where to write a py-spy profile of each memory-on row's load phase (None: no profile).
    profile_dir: Path | None = None


@dataclass(frozen=True)
class RowResult:
    """Everything measured for one target."""

    name: str
    rss_idle_mib: float
    latency: wrk.WrkResult
    load: wrk.WrkResult
    rss_load: RssSummary
    cpu_latency: CpuUse
    cpu_load: CpuUse
    ttft: ttft.TtftResult
    #: Our gateway with memory on: how its retrievals ended under load (None for other rows).
    memory_load: MemoryShare | None = None
    #: Our gateway with memory on, paced at about half of its own req/s under load.
    half: HalfLoad | None = None


@dataclass(frozen=True)
class MemoryShare:
    """Retrievals in one phase, by how they ended.

    A request whose retrieval missed its deadline still succeeds, without memories, so req/s
    alone overstates what memory-on serves under load: goodput counts only the requests served
    with their memories, fully ranked (``full``) or, with the query embedder late, on BM25,
    recency and evidence (``lexical``)."""

    full: int
    lexical: int = 0
    timeout: int = 0
    error: int = 0

    @property
    def total(self) -> int:
        return self.full + self.lexical + self.timeout + self.error

    @property
    def degraded(self) -> int:
        return self.timeout + self.error

    def share(self, count: int) -> float:
        return count / self.total if self.total else 0.0

    @property
    def served_share(self) -> float:
        """Requests served with their memories, full or lexical."""
        return self.share(self.full + self.lexical)

    @property
    def full_share(self) -> float:
        return self.share(self.full)


@dataclass(frozen=True)
class HalfLoad:
    """The load phase again, paced to about half the req/s the row reached, where the issue
    asks for every request to be fully ranked."""

    #: The rate aimed at: half of the row's req/s under load.
    aimed_rps: float
    #: How long each connection paused before each request, on average (drawn from 0 to twice
    #: this, see chat.lua).
    pause_ms: int
    load: wrk.WrkResult
    memory: MemoryShare | None


#: Paced phases aim at this share of the row's own req/s under load.
HALF = 0.5


def pause_for(rps: float, connections: int, latency_ms: float) -> int:
    """The pause before each request that makes ``connections`` send about ``rps`` a second,
    given each request takes ``latency_ms``."""
    return max(0, round(connections * 1000 / rps - latency_ms))


_RETRIEVAL = re.compile(r'^gateway_memory_retrievals_total\{outcome="(\w+)"\} ([0-9.e+]+)$', re.M)


def retrievals(target: Target) -> Counter[str]:
    """The gateway's retrieval counters by outcome (empty for targets without them)."""
    if target.metrics_url is None:
        return Counter()
    request = urllib.request.Request(
        target.metrics_url, headers={"Authorization": f"Bearer {target.api_key}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read().decode()
    return Counter({k: int(float(v)) for k, v in _RETRIEVAL.findall(text)})


def _share(before: Counter[str], after: Counter[str]) -> MemoryShare | None:
    spent = after - before
    share = MemoryShare(
        full=spent["hit"] + spent["empty"],
        lexical=spent["lexical"],
        timeout=spent["timeout"],
        error=spent["error"],
    )
    return share if share.total else None


def _say(target: Target, what: str) -> None:
    print(f"[bench] {target.name}: {what}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _profiled(target: Target, settings: Settings) -> Iterator[None]:
    """py-spy sampling the gateway (and its workers) from the load core, when asked for, as
    collapsed stacks: one line per stack, its sample count last."""
    if settings.profile_dir is None or target.metrics_url is None:
        yield
        return
    out = settings.profile_dir / f"{target.name}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["taskset", "-c", str(settings.load_core), "py-spy", "record", "--format", "raw"]
    cmd += ["--rate", "200", "--subprocesses", "--nonblocking", "--threads"]
    cmd += ["--output", str(out), "--pid", str(target.pid)]
    log = out.with_suffix(".log").open("wb")
    spy = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its output when interrupted
        try:
            spy.wait(30)
        except subprocess.TimeoutExpired:
            spy.kill()
        log.close()


def measure(target: Target, settings: Settings, questions: Path, mock_pid: int) -> RowResult:
    """Drive `target` through the whole sequence, one phase after another.

    Between phases the target is given time to finish what wrk left in flight, so no phase
    starts behind another's queue.
    """
    cores = (settings.measured_core, settings.load_core)
    load = wrk.Load(target.plain_url, target.plain_model, target.api_key, questions, workload.USERS)
    rss_idle = proctree.rss_bytes(target.pid) / (1024 * 1024)

    def drive(connections: int, duration_s: int, pause_ms: int | None = None) -> wrk.WrkResult:
        return wrk.run(
            load,
            connections=connections,
            duration_s=duration_s,
            cpu=settings.load_core,
            pause_ms=pause_ms,
        )

    c = settings.load_connections
    _say(target, f"warm-up, {c} connections, {settings.warmup_s} s")
    drive(c, settings.warmup_s)
    settle(target.pid)
    _say(target, f"latency, 1 connection, {settings.duration_s} s")
    with CpuWindow(target.pid, mock_pid, cores=cores) as latency_cpu:
        latency = drive(1, settings.duration_s)
    settle(target.pid)
    _say(target, f"throughput, {c} connections, {settings.duration_s} s")
    counted = retrievals(target)
    with (
        RssSampler(target.pid) as sampler,
        CpuWindow(target.pid, mock_pid, cores=cores) as load_cpu,
        _profiled(target, settings),
    ):
        under_load = drive(c, settings.duration_s)
    settle(target.pid)
    memory_load = _share(counted, retrievals(target))
    half = None
    if memory_load is not None and under_load.rps > 0:
        aimed = under_load.rps * HALF
        pause = pause_for(aimed, c, latency.mean_ms)
        _say(target, f"paced, {c} connections, ~{aimed:.0f} req/s, {settings.duration_s} s")
        counted = retrievals(target)
        paced = drive(c, settings.duration_s, pause)
        settle(target.pid)
        half = HalfLoad(aimed, pause, paced, _share(counted, retrievals(target)))
    _say(target, f"time to first token, {settings.ttft_requests} stream requests")
    stream = ttft.Stream(target.stream_url, target.stream_model, target.api_key)
    first_token = ttft.measure(stream, requests=settings.ttft_requests)
    return RowResult(
        name=target.name,
        rss_idle_mib=rss_idle,
        latency=latency,
        load=under_load,
        rss_load=sampler.summary(),
        cpu_latency=latency_cpu.use(),
        cpu_load=load_cpu.use(),
        ttft=first_token,
        memory_load=memory_load,
        half=half,
    )
