"""Score the evaluation set without a gateway: plain dense top-k, and dense + BM25 rank fusion.

This is a difficulty check for the generated set, not a model of the gateway. Each turn is
embedded with all-MiniLM-L6-v2 (through ``gateway.store.embedding.OnnxMiniLM``); per question the
turns are ranked (dense: cosine; fused: reciprocal rank fusion of dense and the gateway's own
``BM25Index``), and ``[YYYY-MM-DD] speaker: text`` lines are packed greedily into the budget,
counted in cl100k_base tokens; evidence recall is then scored by ``recall.py`` exactly as
``run_eval.py`` scores the gateway's block. Run from the repository root::

    python -m bench.eval.offline_baseline [--dataset PATH | --locomo PATH]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.eval import recall
from bench.eval.dataset import Conversation, Dataset, iter_turns, load, memory_text
from bench.eval.locomo import convert
from gateway.store.lexical import BM25Index

BUDGETS = (500, 1000, 2000)
DEFAULT_MODEL_DIR = Path("/work/shared/models/all-MiniLM-L6-v2/onnx")
RRF_K = 60  # the constant from the original reciprocal rank fusion paper
Vectors = npt.NDArray[np.float32]


def _tokenizer_cache() -> str:
    # tiktoken looks its encodings up by URL hash in this folder; litellm ships cl100k_base there,
    # which keeps this script offline. Only this script sets it: the gateway has its own wiring.
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("litellm is not installed; it carries the offline tiktoken files")
    return str(Path(next(iter(spec.submodule_search_locations))) / "litellm_core_utils/tokenizers")


def rrf(*rankings: Sequence[int]) -> list[int]:
    """Reciprocal rank fusion of rankings over the same items."""
    score: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking):
            score[item] = score.get(item, 0.0) + 1.0 / (RRF_K + rank + 1)
    return sorted(score, key=lambda item: -score[item])


def pack(lines: Sequence[str], costs: Sequence[int], order: Sequence[int], budget: int) -> str:
    """Lines in rank order, skipping any that no longer fit, until the budget is spent.

    ``costs[i]`` is the token count of ``lines[i]`` plus one for the newline joining it on.
    """
    chosen: list[str] = []
    used = 0
    cheapest = min(costs, default=0)
    for index in order:
        if used + costs[index] <= budget:
            chosen.append(lines[index])
            used += costs[index]
        if used + cheapest > budget:
            break
    return "\n".join(chosen)


def score_conversation(
    conversation: Conversation, embed: Callable[[list[str]], Vectors], count: Callable[[str], int]
) -> dict[str, dict[int, list[recall.Scored]]]:
    """Per ranking method and budget, the scored questions of one conversation."""
    turns = list(iter_turns(conversation))
    memories = [memory_text(turn) for _, turn in turns]
    lines = [f"[{session['date'][:10]}] {memory_text(turn)}" for session, turn in turns]
    costs = [count(line) + 1 for line in lines]
    by_id = {turn["id"]: memory_text(turn) for _, turn in turns}
    questions = conversation["questions"]
    turn_vectors = embed(memories)
    question_vectors = embed([q["question"] for q in questions])
    bm25 = BM25Index()
    bm25.extend(memories)
    out: dict[str, dict[int, list[recall.Scored]]] = {"dense": {}, "rrf": {}}
    for q, vector in zip(questions, question_vectors, strict=True):
        dense = [int(i) for i in np.argsort(-(turn_vectors @ vector), kind="stable")]
        sparse = [int(i) for i in np.argsort(-bm25.scores(q["question"]), kind="stable")]
        evidence = [by_id[turn_id] for turn_id in q["evidence"]]
        for method, order in (("dense", dense), ("rrf", rrf(dense, sparse))):
            for budget in BUDGETS:
                block = pack(lines, costs, order, budget)
                hits = sum(recall.landed(block, evidence))
                item = recall.Scored(q["kind"], hits, len(evidence))
                out[method].setdefault(budget, []).append(item)
    return out


def _table(results: dict[str, dict[int, list[recall.Scored]]]) -> list[dict[str, Any]]:
    rows = []
    for method, per_budget in results.items():
        for budget, scored in per_budget.items():
            summary = recall.overall(scored)
            kinds = {k: round(v.macro, 3) for k, v in recall.by_kind(scored).items()}
            rows.append(
                {
                    "method": method,
                    "budget": budget,
                    "questions": summary.questions,
                    "macro": round(summary.macro, 3),
                    "micro": round(summary.micro, 3),
                    "by_kind": kinds,
                }
            )
    return rows


def _print(rows: list[dict[str, Any]]) -> None:
    kinds = sorted({kind for row in rows for kind in row["by_kind"]})
    header = f"{'method':<6} {'budget':>6} {'macro':>6} {'micro':>6} " + " ".join(
        f"{k[:11]:>11}" for k in kinds
    )
    print(header)
    for row in rows:
        cells = " ".join(f"{row['by_kind'].get(k, float('nan')):>11.3f}" for k in kinds)
        print(
            f"{row['method']:<6} {row['budget']:>6} {row['macro']:>6.3f} {row['micro']:>6.3f} "
            + cells
        )


def _dataset(args: argparse.Namespace) -> Dataset:
    if args.locomo:
        dataset, _ = convert(json.loads(Path(args.locomo).read_text(encoding="utf-8")))
        return dataset
    return load(Path(args.dataset))


def main(argv: Sequence[str] | None = None) -> int:
    """Print dense and RRF evidence recall at each budget; ``--help`` lists the options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(Path(__file__).parent / "data/conversations.json"))
    parser.add_argument("--locomo", help="a LoCoMo-format file instead of the generated set")
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON as well")
    args = parser.parse_args(argv)
    os.environ["TIKTOKEN_CACHE_DIR"] = _tokenizer_cache()
    import tiktoken

    from gateway.store.embedding import OnnxMiniLM

    encoding = tiktoken.get_encoding("cl100k_base")
    embedder = OnnxMiniLM(args.model_dir, threads=os.cpu_count() or 1, batch_size=64)

    def count(text: str) -> int:
        return len(encoding.encode(text))

    merged: dict[str, dict[int, list[recall.Scored]]] = {}
    for conversation in _dataset(args)["conversations"]:
        results = score_conversation(conversation, embedder.embed_sync, count)
        for method, per_budget in results.items():
            for budget, scored in per_budget.items():
                merged.setdefault(method, {}).setdefault(budget, []).extend(scored)
    embedder.close()
    rows = _table(merged)
    _print(rows)
    if args.json:
        print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
