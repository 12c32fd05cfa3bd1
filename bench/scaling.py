"""Retrieval cost as the store grows: p50/p95 per request, CPU, RSS and cold loads.

    python bench/scaling.py [--sizes 1000,10000,100000,1000000] [--queries 200] [--quick]

Two series, each size measured in a fresh process pinned to core 0:

- **spread**: N memories in the store, 1,000 per user (N / 1,000 users); requests come from one
  user (``one user``), then from users drawn at random (``random users``), where the index cache
  (``memory.cache.max_items``, 200,000 by default) decides how many users stay loaded.
- **single**: one user holds all N memories: the worst case, the per-user scan grows with N.

Each request goes through the gateway's own code for stage 4 (``MemoryContext.prepare``): query
built from the messages, embedded by all-MiniLM-L6-v2 on onnxruntime (one thread), the user's
``UserIndex`` searched (dense + BM25 + ranking), the block chosen under the 1,000-token budget
with tiktoken and injected. Every question is new, so the query-vector cache never answers.

The store is built through the code's own ``Snapshots.save`` with synthetic memories
(``bench.synthetic``: template texts, random unit vectors); the measured process loads users
through ``MemoryStore`` exactly as the gateway does (snapshot, else Chroma). Chroma holds only
the ``--chroma-sizes`` users written for the cold-load-from-Chroma rows: a million rows would
take most of an hour to write, and the request path never reads Chroma.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, get_args

import orjson

if __package__ in (None, ""):  # run as a script: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import machine, synthetic
from bench.procs import REPO_DIR, WORK_DIR, command_line, pinned, save_results
from bench.workload import SYSTEM_PROMPT, question
from gateway.config import EmbeddingConfig, GatewayConfig
from gateway.context.profile import Personalization
from gateway.context.retrieval import Retriever
from gateway.context.service import build_embedder, build_query_embedder
from gateway.context.stage import MemoryContext
from gateway.observability import CollectorPauses, Metrics, tune_collector
from gateway.profile.store import ProfileStore
from gateway.profile.summary import SummaryWriter
from gateway.proxy.request import parse_chat
from gateway.store.backend import StoredRecord
from gateway.store.chroma import ChromaBackend
from gateway.store.codec import encode
from gateway.store.index import build
from gateway.store.records import Scope
from gateway.store.snapshots import Generations, Snapshots
from gateway.store.store import CacheSettings, MemoryStore
from gateway.types import Identity
from gateway.upstream.routes import build_route

MODEL_DIR = REPO_DIR.parent / "shared" / "models" / "all-MiniLM-L6-v2" / "onnx"
DATA_DIR = WORK_DIR / "scaling"
MEASURED_CORE, LOAD_CORE = 0, 1
TENANT = "bench"
#: Bump when the generator changes, so stale data directories are rebuilt.
DATA_VERSION = "3"


# -- building the stores ----------------------------------------------------------------------


def spread_scope(user: int) -> Scope:
    return Scope(TENANT, f"spread-{user:04d}")


def single_scope(size: int) -> Scope:
    return Scope(TENANT, f"single-{size}")


def _items(seed: int, count: int) -> list[tuple[Any, Any]]:
    vectors = synthetic.unit_vectors(seed, count)
    return list(zip(synthetic.memories(seed, count), vectors, strict=True))


def _built(directory: Path, what: str) -> bool:
    marker = directory / "built"
    return marker.exists() and marker.read_text() == f"{DATA_VERSION} {what}"


def _built_users(directory: Path) -> int:
    """How many users a spread store holds (0 when missing or from an older generator)."""
    marker = directory / "built"
    version, _, users = marker.read_text().partition(" users=") if marker.exists() else ("", "", "")
    return int(users) if version == DATA_VERSION and users.isdigit() else 0


def _mark(directory: Path, what: str) -> None:
    (directory / "built").write_text(f"{DATA_VERSION} {what}")


def build_spread(users: int, per_user: int) -> Path:
    """Snapshots of ``users`` users with ``per_user`` memories each (a smaller store is the
    first users of a bigger one: the others' files are never opened)."""
    directory = DATA_DIR / f"spread-{per_user}"
    have = _built_users(directory)
    if have >= users:
        return directory
    snapshots = Snapshots(directory / "snapshots")
    for user in range(have, users):
        index = build(synthetic.DIMENSION, 0, _items(user, per_user))
        snapshots.save(spread_scope(user), index, synthetic.STORE_ID)
    _mark(directory, f"users={users}")
    return directory


def build_single(size: int) -> Path:
    """A snapshot of one user holding ``size`` memories."""
    directory = DATA_DIR / f"single-{size}"
    if _built(directory, "single"):
        return directory
    snapshots = Snapshots(directory / "snapshots")
    index = build(synthetic.DIMENSION, 0, _items(10_000_000 + size, size))
    snapshots.save(single_scope(size), index, synthetic.STORE_ID)
    _mark(directory, "single")
    return directory


def build_chroma(size: int) -> Path:
    """One user of ``size`` memories in an embedded Chroma store, written through the
    gateway's ``ChromaBackend`` (no snapshot: the load must come from Chroma)."""
    directory = DATA_DIR / f"chroma-{size}"
    if _built(directory, "chroma"):
        return directory
    shutil.rmtree(directory, ignore_errors=True)
    backend = ChromaBackend(path=directory / "chroma")
    records = [
        StoredRecord(memory.id, memory.content, encode(memory), vector)
        for memory, vector in _items(20_000_000 + size, size)
    ]
    backend.put(single_scope(size), records)
    (directory / "snapshots").mkdir()
    _mark(directory, "chroma")
    return directory


# -- measuring, in the pinned process ---------------------------------------------------------


@dataclass
class Timing:
    """Wall and CPU seconds (every thread of the process) of one operation."""

    wall: float
    cpu: float


@dataclass
class Measured:
    series: str
    size: int
    users: int
    per_user: int
    cold_load: Timing
    #: The part of ``cold_load`` spent reading the snapshot into an index (None: Chroma).
    snapshot_read: Timing | None = None
    one_user: list[Timing] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    embed: list[float] = field(default_factory=list)
    search: list[float] = field(default_factory=list)
    random_users: list[Timing] = field(default_factory=list)
    random_hits: int = 0
    rss_after_load: int = 0
    rss_load_peak: int = 0
    rss_end: int = 0
    rss_peak: int = 0
    #: Garbage-collection pauses (seconds) while the requests ran, by generation.
    gc_pauses: dict[str, list[float]] = field(default_factory=dict)


def gateway_config(data: Path, state: Path, query_precision: str) -> GatewayConfig:
    """The gateway's defaults, with the local embedder and this store."""
    return GatewayConfig.model_validate(
        {
            "auth": {"keys": [{"key": "sk-bench", "tenant": TENANT}]},
            "models": [{"name": "chat", "model": "openai/bench-chat", "api_base": "http://x/v1"}],
            "memory": {
                "store": {"path": str(data / "chroma"), "state_dir": str(state)},
                "embedding": {"model_dir": str(MODEL_DIR), "query_precision": query_precision},
            },
        }
    )


def _status_kb(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) * 1024
    return 0


async def _timed(awaitable: Any) -> tuple[Any, Timing]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = await awaitable
    return result, Timing(time.perf_counter() - wall, time.process_time() - cpu)


class _SyntheticStore(ChromaBackend):
    """The gateway's backend, with the id the synthetic snapshots are recorded for (they come
    from no Chroma store, and the probe must load them as a gateway loads its own)."""

    def identity(self) -> str:
        return synthetic.STORE_ID


class Probe:
    """The gateway's memory stage over one store, built as ``gateway.context.service`` does."""

    def __init__(self, data: Path, state: Path, query_precision: str) -> None:
        config = gateway_config(data, state, query_precision)
        memory = config.memory
        # Memories embedded exactly, queries as configured: both as the gateway builds them.
        self.embedder = build_embedder(memory)
        self.query_embedder = build_query_embedder(memory, self.embedder)
        backend = _SyntheticStore(path=memory.store.path)
        if (data / "chroma").exists():
            backend.connect()  # at startup in the gateway, so not part of a cold load
        cache = CacheSettings(config=memory.cache, snapshots=Snapshots(data / "snapshots"))
        self.store = MemoryStore(backend, self.embedder, Generations(state / "g.sqlite3"), cache)
        self.params = memory.retrieval
        retriever = Retriever(
            self.store,
            self.query_embedder,
            self.params,
            timeout_s=memory.retrieval.timeout_ms / 1000,
            expiry_days=memory.expiry_days,
        )
        metrics = Metrics(model_names=["chat"])
        # The profile stage too, as the gateway runs it (a summary may be written in the
        # background for users whose memories overflow the budget).
        profiles = ProfileStore(backend)
        summaries = SummaryWriter(self.store, profiles, config.personalization, metrics)
        personalization = Personalization(config, profiles, self.store, summaries)
        self.context = MemoryContext(config, retriever, metrics, personalization)
        self.route = build_route(config.models[0])
        self.asked = 0

    async def ask(self, scope: Scope) -> tuple[str, Timing]:
        """One request's memory stage for ``scope``; returns its x-memory-status."""
        self.asked += 1
        body = {
            "model": "chat",
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": question(self.asked)},
            ],
        }
        chat = parse_chat(orjson.dumps(body))
        identity = Identity(scope.tenant, scope.user, "on")
        prepared, timing = await _timed(self.context.prepare(identity, chat, self.route))
        return prepared.headers["x-memory-status"], timing

    async def phases(self, scope: Scope, count: int) -> tuple[list[float], list[float]]:
        """Wall seconds of the query embedding and of the index search, apart."""
        index = await self.store.index(scope)
        embeds, searches = [], []
        for _ in range(count):
            self.asked += 1
            text = question(self.asked)
            started = time.perf_counter()
            vector = (await self.query_embedder.embed([text]))[0]
            embedded = time.perf_counter()
            index.search(vector, text, self.params)
            embeds.append(embedded - started)
            searches.append(time.perf_counter() - embedded)
        return embeds, searches


async def measure(args: argparse.Namespace) -> Measured:
    tune_collector()  # as `gateway serve` does: full collections would stall the measurements
    data = Path(args.data)
    state = Path(tempfile.mkdtemp(prefix="scaling-state-", dir=WORK_DIR))
    probe = Probe(data, state, args.query_precision)
    target = single_scope(args.size) if args.series != "spread" else spread_scope(0)
    index, load = await _timed(probe.store.index(target))
    assert len(index) == (args.size if args.series != "spread" else args.per_user)
    result = Measured(args.series, args.size, args.users, args.per_user, load)
    result.rss_after_load, result.rss_load_peak = _status_kb("VmRSS"), _status_kb("VmHWM")
    if args.series != "chroma":
        result.snapshot_read = _snapshot_read(data, target)
    pauses = CollectorPauses(lambda g, s: result.gc_pauses.setdefault(str(g), []).append(s))
    pauses.start()
    for _ in range(args.warmup):
        await probe.ask(target)
    for _ in range(args.queries):
        status, timing = await probe.ask(target)
        result.one_user.append(timing)
        result.statuses[status] = result.statuses.get(status, 0) + 1
    result.embed, result.search = await probe.phases(target, min(args.queries, 50))
    if args.users > 1:
        await _random_users(probe, args, result)
    pauses.stop()
    result.rss_end, result.rss_peak = _status_kb("VmRSS"), _status_kb("VmHWM")
    shutil.rmtree(state, ignore_errors=True)
    return result


def _snapshot_read(data: Path, scope: Scope) -> Timing:
    """Reading the snapshot into an index alone, the part of a cold load that grows with the
    user (the rest is a generation lookup and two thread hops)."""
    wall, cpu = time.perf_counter(), time.process_time()
    index = Snapshots(data / "snapshots").load(scope, 0, synthetic.DIMENSION, synthetic.STORE_ID)
    timing = Timing(time.perf_counter() - wall, time.process_time() - cpu)
    assert index is not None
    del index
    return timing


async def _random_users(probe: Probe, args: argparse.Namespace, result: Measured) -> None:
    """Every user once (the cache keeps what fits), then requests from users at random."""
    rng = random.Random(args.size)
    order = list(range(args.users))
    rng.shuffle(order)
    for user in order:
        await probe.store.index(spread_scope(user))
    for _ in range(args.queries):
        scope = spread_scope(rng.randrange(args.users))
        result.random_hits += probe.store.cached(scope) is not None
        _, timing = await probe.ask(scope)
        result.random_users.append(timing)


# -- the harness ------------------------------------------------------------------------------


def _child(args: Sequence[str], name: str) -> dict[str, Any]:
    """Run ``measure`` in a fresh process on the measured core; its result."""
    out = WORK_DIR / "scaling" / f"{name}.json"
    out.unlink(missing_ok=True)
    command = [sys.executable, str(Path(__file__).resolve()), "measure", *args, "--out", str(out)]
    env = {"PYTHONPATH": str(REPO_DIR), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    log = WORK_DIR / "logs" / f"scaling-{name}.log"
    with pinned(command, cpu=MEASURED_CORE, log=log, env=env) as process:
        code = process.wait()
    if code != 0 or not out.exists():
        raise RuntimeError(f"{name}: measuring process failed ({code}); see {log}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def _queries(size: int, wanted: int) -> int:
    # A million-memory search takes about a second: fewer requests keep the run short.
    return wanted if size <= 100_000 else max(20, wanted // 5)


def _run(args: argparse.Namespace) -> dict[str, Any]:
    os.sched_setaffinity(0, {LOAD_CORE})
    sizes = [int(s) for s in args.sizes.split(",")]
    per_user = args.per_user
    rows: list[dict[str, Any]] = []
    common = ["--warmup", str(args.warmup), "--per-user", str(per_user)]
    common += ["--query-precision", args.query_precision]
    data = build_spread(max(1, max(sizes) // per_user), per_user)
    for size in sizes:
        users = max(1, size // per_user)
        flags = ["--series", "spread", "--size", str(size), "--users", str(users)]
        flags += ["--queries", str(_queries(per_user, args.queries))]
        rows.append(_child([*flags, *common, "--data", str(data)], f"spread-{size}"))
        _progress(rows[-1])
    for size in sizes:
        data = build_single(size)
        flags = ["--series", "single", "--size", str(size), "--users", "1"]
        flags += ["--queries", str(_queries(size, args.queries))]
        rows.append(_child([*flags, *common, "--data", str(data)], f"single-{size}"))
        _progress(rows[-1])
    for size in [int(s) for s in args.chroma_sizes.split(",") if s]:
        data = build_chroma(size)
        flags = ["--series", "chroma", "--size", str(size), "--users", "1", "--queries", "20"]
        rows.append(_child([*flags, *common, "--data", str(data)], f"chroma-{size}"))
        _progress(rows[-1])
    return {"rows": rows}


def _progress(row: dict[str, Any]) -> None:
    print(f"[scaling] {row['series']} {row['size']}: done", file=sys.stderr, flush=True)


# -- the report -------------------------------------------------------------------------------


def _ms(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _walls(timings: Sequence[dict[str, float]]) -> list[float]:
    return [t["wall"] for t in timings]


def _cpu_ms(timings: Sequence[dict[str, float]]) -> float:
    return 1000 * statistics.mean(t["cpu"] for t in timings)


def _mib(value: int) -> str:
    return f"{value / 2**20:,.0f}"


def render(rows: Sequence[dict[str, Any]]) -> str:
    spread = [r for r in rows if r["series"] == "spread"]
    single = [r for r in rows if r["series"] == "single"]
    chroma = [r for r in rows if r["series"] == "chroma"]
    per_user = spread[0]["per_user"] if spread else 0
    lines = [f"### (a) N memories in the store, {per_user:,} per user", ""]
    lines += [
        "| memories | users | one user p50 / p95 ms | CPU ms | random users p50 / p95 ms "
        "| CPU ms | cache hits | RSS MiB at end (peak) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in spread:
        one, rand = r["one_user"], r["random_users"]
        random_cells = "n/a | n/a | n/a"
        if rand:
            random_cells = (
                f"{_ms(_walls(rand), 0.5):.1f} / {_ms(_walls(rand), 0.95):.1f} | "
                f"{_cpu_ms(rand):.1f} | {r['random_hits']}/{len(rand)}"
            )
        lines.append(
            f"| {r['size']:,} | {r['users']:,} | {_ms(_walls(one), 0.5):.1f} / "
            f"{_ms(_walls(one), 0.95):.1f} | {_cpu_ms(one):.1f} | {random_cells} | "
            f"{_mib(r['rss_end'])} ({_mib(r['rss_peak'])}) |"
        )
    lines += ["", "### (b) one user holding N memories", ""]
    lines += [
        "| memories | p50 / p95 ms | CPU ms | embed p50 ms | search p50 / p95 ms "
        "| cold load from snapshot: wall / CPU ms | of which the snapshot, CPU ms "
        "| RSS MiB at end (peak during load) | statuses |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in single:
        one = r["one_user"]
        load = r["cold_load"]
        lines.append(
            f"| {r['size']:,} | {_ms(_walls(one), 0.5):.1f} / {_ms(_walls(one), 0.95):.1f} | "
            f"{_cpu_ms(one):.1f} | {_ms(r['embed'], 0.5):.1f} | {_ms(r['search'], 0.5):.1f} / "
            f"{_ms(r['search'], 0.95):.1f} | {1000 * load['wall']:,.0f} / "
            f"{1000 * load['cpu']:,.0f} | {1000 * r['snapshot_read']['cpu']:,.0f} | "
            f"{_mib(r['rss_end'])} ({_mib(r['rss_load_peak'])}) | {_statuses(r)} |"
        )
    if chroma:
        lines += ["", "### Cold load of one user from embedded Chroma (no snapshot)", ""]
        lines += ["| memories | wall ms | CPU ms |", "| ---: | ---: | ---: |"]
        for r in chroma:
            load = r["cold_load"]
            lines.append(
                f"| {r['size']:,} | {1000 * load['wall']:,.0f} | {1000 * load['cpu']:,.0f} |"
            )
    lines += ["", _full_collections(spread + single)]
    return "\n".join(lines)


def _full_collections(rows: Sequence[dict[str, Any]]) -> str:
    """Full garbage collections while the requests ran (generation 2), per row."""
    parts = []
    for r in rows:
        full = r.get("gc_pauses", {}).get("2", [])
        longest = f", longest {1000 * max(full):.0f} ms" if full else ""
        parts.append(f"{r['series']} {r['size']:,}: {len(full)}{longest}")
    return "Full garbage collections while the requests ran: " + "; ".join(parts) + "."


def _statuses(row: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(row["statuses"].items()))


#: How this command is typed (also `python bench/scaling.py`).
PROG = "python -m bench scaling"

# -- command line -----------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    commands = parse.add_subparsers(dest="command")
    inner = commands.add_parser("measure", help="(internal) measure one store in this process")
    inner.add_argument("--series", choices=("spread", "single", "chroma"), required=True)
    inner.add_argument("--size", type=int, required=True)
    inner.add_argument("--users", type=int, required=True)
    inner.add_argument("--per-user", type=int, required=True)
    inner.add_argument("--queries", type=int, required=True)
    inner.add_argument("--warmup", type=int, required=True)
    inner.add_argument("--data", required=True)
    inner.add_argument("--out", required=True)
    for command in (inner, parse):
        command.add_argument(
            "--query-precision",
            choices=get_args(EmbeddingConfig.model_fields["query_precision"].annotation),
            default=EmbeddingConfig().query_precision,
            help="memory.embedding.query_precision (default: the gateway's)",
        )
    parse.add_argument("--sizes", default="1000,10000,100000,1000000")
    parse.add_argument("--per-user", type=int, default=1000)
    parse.add_argument("--queries", type=int, default=200, help="requests per measurement")
    parse.add_argument("--warmup", type=int, default=10)
    parse.add_argument("--chroma-sizes", default="1000,10000", help="'' to skip")
    parse.add_argument("--quick", action="store_true", help="1k and 10k only, 30 requests")
    return parse


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    if args.command == "measure":
        result = asyncio.run(measure(args))
        Path(args.out).write_text(json.dumps(asdict(result)))
        return 0
    if args.quick:
        args.sizes, args.queries, args.chroma_sizes, args.warmup = "1000,10000", 30, "1000", 3
    started = time.strftime("%Y%m%d-%H%M%S")
    info = machine.describe()
    results = _run(args)
    text = render(results["rows"])
    print(f"queries embedded in {args.query_precision}\n\n{text}")
    payload = {
        "command": command_line(PROG, argv),
        "query_precision": args.query_precision,
        "started": started,
        "machine": info,
        **results,
    }
    save_results(f"scaling-{started}.json", payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
