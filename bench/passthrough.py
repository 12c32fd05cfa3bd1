"""Pass-through beside chat: embeddings through the gateway, a direct call, and their ratio.

    python -m bench passthrough [--duration 15] [--quick] [--nice -20]

Issue 17's target: passing a request through adds no more than chat does with memory off. One
run measures, with wrk on the load core and the gateway (memory off) alone on the measured core,
as `compare` places them:

- `POST /v1/embeddings` straight to the nginx mock, and through the gateway (pass-through);
- `POST /v1/chat/completions` straight to the mock, and through the gateway (memory off);

each at 1 connection (latency: p50 / p90 / p99) and at 32 (requests per second). The embedding
answer is a real-sized one (one 1,536-dimension vector, base64, as the OpenAI SDKs ask). It
prints the medians, the latency each adds over its direct call, and the ratio of the two added
p50s (embeddings / chat: at most 1 meets the target), and writes
`bench/results/passthrough-<time>.json`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import machine, mock, procs, targets, workload, wrk

MEASURED_CORE, LOAD_CORE = 0, 1
THROUGHPUT_CONNECTIONS = 32


def _load(url: str, model: str, key: str, kind: str, questions: Path) -> wrk.Load:
    return wrk.Load(url, model, key, questions, workload.USERS, kind)


def _measure(load: wrk.Load, duration_s: int, warmup_s: int) -> dict[str, wrk.WrkResult]:
    wrk.run(load, connections=THROUGHPUT_CONNECTIONS, duration_s=warmup_s, cpu=LOAD_CORE)
    latency = wrk.run(load, connections=1, duration_s=duration_s, cpu=LOAD_CORE)
    throughput = wrk.run(
        load, connections=THROUGHPUT_CONNECTIONS, duration_s=duration_s, cpu=LOAD_CORE
    )
    for result in (latency, throughput):
        if result.non2xx or result.socket_errors:
            raise RuntimeError(
                f"{load.url}: {result.non2xx} non-2xx, {result.socket_errors} errors"
            )
    return {"latency": latency, "throughput": throughput}


def run(duration_s: int, warmup_s: int) -> dict[str, dict[str, wrk.WrkResult]]:
    questions = workload.write_questions(procs.WORK_DIR / "questions.txt")
    rows: dict[str, dict[str, wrk.WrkResult]] = {}
    with mock.serve("mock-upstream", cpu=LOAD_CORE) as upstream:
        direct = {
            "embeddings": _load(
                f"{upstream.plain_base}/embeddings", "mock", "none", "embeddings", questions
            ),
            "chat": _load(
                f"{upstream.plain_base}/chat/completions", "mock", "none", "chat", questions
            ),
        }
        for kind, load in direct.items():
            rows[f"{kind}, direct"] = _measure(load, duration_s, warmup_s)
        with targets.gateway(upstream, cpu=MEASURED_CORE, memory=False) as gateway:
            base = gateway.plain_url.removesuffix("/chat/completions")
            through = {
                "embeddings": _load(
                    f"{base}/embeddings",
                    targets.EMBEDDING_MODEL,
                    gateway.api_key,
                    "embeddings",
                    questions,
                ),
                "chat": _load(
                    gateway.plain_url, gateway.plain_model, gateway.api_key, "chat", questions
                ),
            }
            for kind, load in through.items():
                rows[f"{kind}, gateway"] = _measure(load, duration_s, warmup_s)
    return rows


def render(rows: dict[str, dict[str, wrk.WrkResult]]) -> tuple[str, dict[str, float]]:
    """The table, and the figures the target is judged on."""
    lines = [
        "| row | p50 ms | p90 ms | p99 ms | added p50 ms | added p99 ms | req/s at 32 |",
        "|---|---|---|---|---|---|---|",
    ]
    added: dict[str, float] = {}
    for name, result in rows.items():
        latency = result["latency"]
        direct = rows[name.split(",")[0] + ", direct"]["latency"]
        added[name] = latency.p50_ms - direct.p50_ms
        lines.append(
            f"| {name} | {latency.p50_ms:.2f} | {latency.p90_ms:.2f} | {latency.p99_ms:.2f} | "
            f"{added[name]:.2f} | {latency.p99_ms - direct.p99_ms:.2f} | "
            f"{result['throughput'].rps:.0f} |"
        )
    chat_added = added["chat, gateway"]
    ratio = added["embeddings, gateway"] / chat_added if chat_added > 0 else float("nan")
    figures = {
        "embeddings_added_p50_ms": added["embeddings, gateway"],
        "chat_added_p50_ms": chat_added,
        "ratio": ratio,
    }
    verdict = "meets" if ratio <= 1 else "misses"
    lines.append(
        f"\nPass-through adds {figures['embeddings_added_p50_ms']:.2f} ms p50 to embeddings; "
        f"chat with memory off adds {chat_added:.2f} ms: ratio {ratio:.2f} "
        f"({verdict} the target, at most 1)."
    )
    return "\n".join(lines), figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench passthrough", description=__doc__)
    parser.add_argument("--duration", type=int, default=15, help="seconds per measured run")
    parser.add_argument("--quick", action="store_true", help="3 s runs, for a smoke test")
    parser.add_argument("--nice", type=int, default=0, help="niceness for everything (root)")
    args = parser.parse_args(argv)
    duration, warmup = (3, 1) if args.quick else (args.duration, 5)
    os.sched_setaffinity(0, {LOAD_CORE})
    started = time.strftime("%Y%m%d-%H%M%S")
    info = machine.describe()
    priority = procs.boosted_priority(args.nice) if args.nice else contextlib.nullcontext()
    with priority:
        rows = run(duration, warmup)
    text, figures = render(rows)
    print(text)
    payload = {
        "command": procs.command_line("python -m bench passthrough", argv or sys.argv[1:]),
        "started": started,
        "machine": info,
        "rows": {name: {k: asdict(v) for k, v in r.items()} for name, r in rows.items()},
        "figures": figures,
        "table": text,
    }
    procs.save_results(f"passthrough-{started}.json", payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
