"""Micro-benchmark of local all-MiniLM-L6-v2 embedding, one onnxruntime thread.

Compares padding each batch to its longest text (what ``OnnxMiniLM`` does) with padding every text
to 256 tokens (what Chroma's default embedding function does), both on the same session, and
measures batch throughput, and what one chat query costs when it shares a run with others
(the query embedder's batching policy, ``_SHARED_RUN`` in gateway/store/embedding.py)::

    python bench/embedding_bench.py [--model-dir DIR] [--runs 100] [--batch-runs 3]
    python bench/embedding_bench.py --query-batches --int8 [--runs 100]
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

from bench import workload
from gateway.store.embedding import OnnxMiniLM
from gateway.store.quantized import int8_model

DEFAULT_MODEL_DIR = (
    Path(__file__).resolve().parents[1].parent / "shared" / "models" / "all-MiniLM-L6-v2" / "onnx"
)
QUERY = "what did I say about my sister's wedding plans last June"
VOCABULARY = (  # words the batch sentences are drawn from
    "memory gateway user prefers concise answers with code examples the customer subscription "
    "renews next week meeting notes about hiring budget travel plans dentist appointment on "
    "Friday favourite programming language is Python deployment failed because of a missing "
    "environment variable remind me to call my mother tomorrow evening"
)

Vectors = npt.NDArray[np.float32]


def main() -> int:
    args = _parser().parse_args()
    model_file = int8_model(args.model_dir / "model.onnx") if args.int8 else None
    embedder = OnnxMiniLM(args.model_dir, threads=1, model_file=model_file)
    fixed = _fixed_padding(embedder, args.model_dir / "tokenizer.json")
    try:
        if args.query_batches:
            _report_query_batches(embedder, args.runs)
        else:
            _report_query(embedder, fixed, args.runs)
            _report_batch(embedder, fixed, args.batch_runs)
    finally:
        embedder.close()
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--runs", type=int, default=100, help="timed runs per query variant")
    parser.add_argument("--batch-runs", type=int, default=3, help="timed runs per batch variant")
    parser.add_argument(
        "--query-batches",
        action="store_true",
        help="only the cost per chat query in runs of 1 to 32 queries",
    )
    parser.add_argument(
        "--int8",
        action="store_true",
        help="the int8 copy the gateway embeds queries with (memory.embedding.query_precision)",
    )
    return parser


def _fixed_padding(embedder: OnnxMiniLM, tokenizer_path: Path) -> Callable[[list[str]], Vectors]:
    """Chroma's behaviour: every text padded to 256 tokens, batches of 32 in the caller's order."""
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    tokenizer.enable_truncation(max_length=256)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]", length=256)

    def embed(texts: list[str]) -> Vectors:
        rows = []
        for start in range(0, len(texts), 32):
            encodings = [tokenizer.encode(text) for text in texts[start : start + 32]]
            input_ids = np.array([e.ids for e in encodings], dtype=np.int64)
            attention_mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            # Same session, pooling and normalisation as OnnxMiniLM: only the padding differs.
            rows.append(embedder._forward(input_ids, attention_mask))
        return np.concatenate(rows)

    return embed


def _timings_ms(
    run: Callable[[], object], runs: int, warmup: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Wall-clock and on-CPU milliseconds per run.

    With one onnxruntime thread the model runs on the calling thread, so that thread's CPU time
    is the work itself; on a shared machine it stays honest when wall-clock time does not.
    """
    for _ in range(warmup):
        run()
    wall, cpu = [], []
    for _ in range(runs):
        wall_start, cpu_start = time.perf_counter(), time.thread_time()
        run()
        cpu.append((time.thread_time() - cpu_start) * 1000)
        wall.append((time.perf_counter() - wall_start) * 1000)
    return np.array(wall), np.array(cpu)


def _report_query(embedder: OnnxMiniLM, fixed: Callable[[list[str]], Vectors], runs: int) -> None:
    difference = np.abs(embedder.embed_sync([QUERY]) - fixed([QUERY])).max()
    print(f"one query ({len(QUERY.split())} words), {runs} runs, 1 thread")
    print(f"  max |ours - fixed-256| over 384 coordinates: {difference:.2e}")
    print("  | padding | median ms | p95 ms | median CPU ms | p95 CPU ms |")
    print("  | --- | ---: | ---: | ---: | ---: |")
    variants = {"to longest (ours)": embedder.embed_sync, "fixed 256 (Chroma)": fixed}
    for label, embed in variants.items():
        wall, cpu = _timings_ms(partial(embed, [QUERY]), runs, warmup=20)
        print(
            f"  | {label} | {np.median(wall):.2f} | {np.percentile(wall, 95):.2f} "
            f"| {np.median(cpu):.2f} | {np.percentile(cpu, 95):.2f} |"
        )


def _sentences(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(VOCABULARY.split(), k=rng.randint(3, 80))) for _ in range(count)]


def _report_batch(embedder: OnnxMiniLM, fixed: Callable[[list[str]], Vectors], runs: int) -> None:
    texts = _sentences(256)
    words = [len(t.split()) for t in texts]
    print(f"\nbatch of {len(texts)} sentences ({min(words)}-{max(words)} words), {runs} runs")
    print("  | padding | median s | texts/s | texts per CPU-second |")
    print("  | --- | ---: | ---: | ---: |")
    variants = {"sorted, to longest (ours)": embedder.embed_sync, "fixed 256 (Chroma)": fixed}
    for label, embed in variants.items():
        wall, cpu = (np.median(ms) / 1000 for ms in _timings_ms(partial(embed, texts), runs, 1))
        print(f"  | {label} | {wall:.3f} | {len(texts) / wall:.0f} | {len(texts) / cpu:.0f} |")


#: Runs of this many chat queries share one model run in ``_report_query_batches``.
QUERY_BATCH_SIZES = (1, 2, 4, 8, 12, 16, 24, 32)


def _report_query_batches(embedder: OnnxMiniLM, runs: int) -> None:
    """The benchmark's chat queries (`workload.question`), as the query embedder sees them."""
    print(f"chat queries in one run, {embedder.name}, {runs} runs per size, 1 thread")
    print("  | queries per run | median ms per run | ms per query | CPU ms per query |")
    print("  | ---: | ---: | ---: | ---: |")
    for size in QUERY_BATCH_SIZES:
        texts = [workload.question(n) for n in range(size)]
        wall, cpu = _timings_ms(partial(embedder.embed_sync, texts), runs, warmup=5)
        print(
            f"  | {size} | {np.median(wall):.2f} | {np.median(wall) / size:.2f} "
            f"| {np.median(cpu) / size:.2f} |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
