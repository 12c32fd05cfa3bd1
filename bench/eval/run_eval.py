"""Measure evidence recall of a running memory gateway, hybrid retrieval beside plain dense.

For each conversation the script stores every turn as a memory of a fresh user
(``eval-<conversation>-<nonce>``) through the memory API (``--ingest batch``), or sends the
conversation through ``POST /v1/chat/completions`` turn by turn and lets the gateway learn the
user's turns (``--ingest live``, see ``live.py``; ``both`` runs one after the other), then asks each question once per retrieval mode and budget
through the built-in ``echo`` model, reads the memory block from the echoed system message and
scores which evidence turns landed in it (``recall.py``). The user's memories are deleted at the
end. Run from the repository root::

    python -m bench.eval.run_eval --base-url http://127.0.0.1:8080 --key sk-...
    python -m bench.eval.run_eval --spawn-config config/gateway.yaml --key sk-...
    python -m bench.eval.run_eval --dataset /data/locomo10.json --key sk-...   # LoCoMo format
    python -m bench.eval.run_eval --spawn-config config/gateway.yaml --ingest both --key sk-...
    python -m bench.eval.run_eval --spawn-config config/gateway.yaml --sets dev,validation --key sk-...

``--sets`` names the sets to run side by side: ``dev`` (``data/conversations.json``, the set
retrieval is tuned on), ``validation`` (``data/validation.json``, never tuned on; see
``validation.py``) or a path; ``--dataset PATH`` is one path.

It prints one row per ingestion, mode and budget (macro and micro recall overall, macro recall per kind)
and writes the same figures, plus per-question outcomes, to
``bench/results/eval-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

import httpx

from bench.eval import live, recall
from bench.eval.client import GatewayCallFailed, GatewayClient, MemoryIn, Mode
from bench.eval.dataset import (
    Conversation,
    Dataset,
    Question,
    iter_turns,
    load,
    memory_text,
    turn_index,
)
from bench.eval.locomo import convert
from bench.eval.spawn import GatewayDidNotStart, spawned_gateway
from gateway.learning.salience import skip_reason

Ingest = Literal["batch", "live"]
INGESTS: dict[str, tuple[Ingest, ...]] = {
    "batch": ("batch",),
    "live": ("live",),
    "both": ("batch", "live"),
}
#: The rows of batch outcomes over the questions live ingestion scores too, side by side.
BATCH_USER = "batch/user"
BUDGETS = (500, 1000, 2000)
MODES: tuple[Mode, ...] = get_args(Mode)
BATCH = 1000  # memories per POST, the API's limit
DEFAULT_DATASET = Path(__file__).parent / "data" / "conversations.json"
SETS = {"dev": DEFAULT_DATASET, "validation": Path(__file__).parent / "data" / "validation.json"}
DEFAULT_RESULTS = Path(__file__).parent.parent / "results"


@dataclass(frozen=True)
class Outcome:
    """One question asked in one mode at one budget."""

    question_id: str
    kind: str
    mode: Mode
    budget: int
    evidence: tuple[str, ...]
    landed: tuple[str, ...]
    #: The answer's X-Memory-Status; a ``degraded`` one scores no recall through no fault
    #: of the ranking, so the summary counts them apart.
    status: str = "ok"
    ingest: Ingest = "batch"
    #: Every evidence turn was said by the user (``live.said_by_user``).
    user_said: bool = False
    #: The name of the evaluation set the question comes from.
    dataset: str = "dev"

    @property
    def scored(self) -> recall.Scored:
        return recall.Scored(self.kind, len(self.landed), len(self.evidence))


def read_dataset(path: Path) -> Dataset:
    """Our own layout, or a LoCoMo file (a top-level list of samples) converted to it."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(raw, list):
        dataset, report = convert(raw)
        print(
            f"LoCoMo: {report.questions_kept} questions kept, "
            f"{report.questions_without_evidence} without usable evidence skipped, "
            f"{report.evidence_ids_unknown} unknown evidence ids ignored",
            file=sys.stderr,
        )
        return dataset
    return load(path)


def memories_of(conversation: Conversation, *, salient_only: bool = False) -> list[MemoryIn]:
    """Every turn as the memory the gateway should store, dated by its session; with
    ``salient_only``, only the turns that ``extraction.mode: turns`` would store."""
    return [
        {
            "content": memory_text(turn),
            "category": "fact",
            "created_at": session["date"],
            "metadata": {"turn_id": turn["id"]},
        }
        for session, turn in iter_turns(conversation)
        if not (salient_only and skip_reason(turn["text"]))
    ]


async def evaluate_conversation(
    client: GatewayClient,
    conversation: Conversation,
    nonce: str,
    budgets: Sequence[int],
    modes: Sequence[Mode],
    concurrency: int,
    *,
    salient_only: bool = False,
    ingest: Ingest = "batch",
    sessions: live.Sessions = "prefix",
) -> list[Outcome]:
    """Ingest one conversation, ask its questions (live: those the user's turns answer), and
    forget it again."""
    user_id = f"eval-{conversation['id']}-{nonce}" + ("-live" if ingest == "live" else "")
    questions = conversation["questions"]
    stored_text = memory_text
    try:
        if ingest == "live":
            await live.feed(client, conversation, user_id, sessions)
            questions = [q for q in questions if live.said_by_user(conversation, q)]
            stored_text = live.learned_text
        else:
            await _import(client, user_id, memories_of(conversation, salient_only=salient_only))
        gate = asyncio.Semaphore(concurrency)
        turns = turn_index(conversation)

        async def ask(question: Question, mode: Mode, budget: int) -> Outcome:
            async with gate:
                block, status = await client.injected_block(
                    user_id, question["question"], budget, mode
                )
            evidence = tuple(question["evidence"])
            texts = [stored_text(turns[turn_id]) for turn_id in evidence]
            hits = recall.landed(block, texts)
            landed = tuple(t for t, hit in zip(evidence, hits, strict=True) if hit)
            said = live.said_by_user(conversation, question)
            kind = question["kind"]
            return Outcome(
                question["id"], kind, mode, budget, evidence, landed, status, ingest, said
            )

        jobs = [
            ask(question, mode, budget)
            for question in questions
            for mode in modes
            for budget in budgets
        ]
        return list(await asyncio.gather(*jobs))
    finally:
        await _forget(client, user_id, conversation["id"])


async def _import(client: GatewayClient, user_id: str, memories: Sequence[MemoryIn]) -> None:
    for start in range(0, len(memories), BATCH):
        await client.add_memories(user_id, memories[start : start + BATCH])


async def _forget(client: GatewayClient, user_id: str, conversation_id: str) -> None:
    # A failed clean-up must not hide the error that ended the run; the user id is unique to
    # the run, so what is left behind never mixes with another run's memories.
    try:
        await client.delete_memories(user_id)
    except (GatewayCallFailed, httpx.HTTPError) as exc:
        print(f"{conversation_id}: clean-up failed ({exc})", file=sys.stderr)


def summary_rows(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    """One row per ingestion, mode and budget: overall macro/micro and per-kind recall. When
    both ingestions ran, ``batch/user`` rows score the batch answers to the questions that live
    ingestion scores, so the two compare on one set."""
    rows = []
    for name in dict.fromkeys(o.dataset for o in outcomes):
        groups: dict[str, list[Outcome]] = {}
        for outcome in outcomes:
            if outcome.dataset == name:
                groups.setdefault(outcome.ingest, []).append(outcome)
        if "live" in groups and "batch" in groups:
            groups[BATCH_USER] = [o for o in groups["batch"] if o.user_said]
        rows += [row for ingest, group in groups.items() for row in _rows(name, ingest, group)]
    return rows


def _rows(dataset: str, ingest: str, outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    rows = []
    for mode in dict.fromkeys(o.mode for o in outcomes):
        for budget in sorted({o.budget for o in outcomes if o.mode == mode}):
            cell = [o for o in outcomes if o.mode == mode and o.budget == budget]
            scored = [o.scored for o in cell]
            total = recall.overall(scored)
            rows.append(
                {
                    "set": dataset,
                    "ingest": ingest,
                    "mode": mode,
                    "budget": budget,
                    "questions": total.questions,
                    "macro": total.macro,
                    "micro": total.micro,
                    "degraded": sum(o.status == "degraded" for o in cell),
                    "by_kind": {
                        kind: {"questions": s.questions, "macro": s.macro, "micro": s.micro}
                        for kind, s in recall.by_kind(scored).items()
                    },
                }
            )
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a fixed-width text table (per-kind columns show macro recall; ``degraded``
    counts answers whose retrieval missed its deadline)."""
    kinds = sorted({kind for row in rows for kind in row["by_kind"]})
    head = f"{'set':<12}{'ingest':<11}{'mode':<7}{'budget':>7}{'n':>6}{'degraded':>9}{'macro':>8}{'micro':>8}"
    lines = [head + "".join(f"{kind:>13}" for kind in kinds)]
    for row in rows:
        cells = "".join(
            f"{row['by_kind'][k]['macro']:>13.3f}" if k in row["by_kind"] else f"{'-':>13}"
            for k in kinds
        )
        lines.append(
            f"{row.get('set', 'dev'):<12}{row.get('ingest', 'batch'):<11}{row['mode']:<7}{row['budget']:>7}{row['questions']:>6}{row.get('degraded', 0):>9}"
            f"{row['macro']:>8.3f}{row['micro']:>8.3f}" + cells
        )
    return "\n".join(lines)


def chosen_sets(args: argparse.Namespace) -> dict[str, Path]:
    """The sets to run, by name: ``--dataset`` if given, else ``--sets`` (names or paths)."""
    if args.dataset is not None:
        return {args.dataset.stem: args.dataset}
    return {name: SETS.get(name, Path(name)) for name in args.sets.split(",") if name}


async def run(args: argparse.Namespace) -> int:
    sets = chosen_sets(args)
    conversations = [
        (name, conversation)
        for name, path in sets.items()
        for conversation in read_dataset(path)["conversations"][: args.limit or None]
    ]
    if args.spawn_config:
        # Live ingestion needs the user's turns learned as they are (config/gateway.yaml reads
        # extraction.mode from this variable).
        env = {"GATEWAY_EXTRACTION_MODE": "turns"} if "live" in INGESTS[args.ingest] else {}
        async with spawned_gateway(args.spawn_config, env=env) as base_url:
            outcomes = await _evaluate(base_url, args, conversations)
    else:
        outcomes = await _evaluate(args.base_url, args, conversations)
    rows = summary_rows(outcomes)
    print(format_table(rows))
    for ingest in INGESTS[args.ingest]:
        asked = {(o.dataset, o.question_id) for o in outcomes if o.ingest == ingest}
        print(f"{ingest}: {len(asked)} questions scored", file=sys.stderr)
    path = _write_results(args, sets, rows, outcomes)
    print(f"results: {path}", file=sys.stderr)
    return 0


async def _evaluate(
    base_url: str, args: argparse.Namespace, conversations: Sequence[tuple[str, Conversation]]
) -> list[Outcome]:
    nonce = secrets.token_hex(4)
    outcomes: list[Outcome] = []
    async with GatewayClient(base_url, args.key, args.timeout) as client:
        for name, conversation in conversations:
            for ingest in INGESTS[args.ingest]:
                found = await evaluate_conversation(
                    client,
                    conversation,
                    nonce,
                    args.budgets,
                    args.modes,
                    args.concurrency,
                    salient_only=args.salient_only,
                    ingest=ingest,
                    sessions=args.live_sessions,
                )
                outcomes += [replace(o, dataset=name) for o in found]
                print(
                    f"{name} {conversation['id']} {ingest}: {len(found)} queries", file=sys.stderr
                )
    return outcomes


def _write_results(
    args: argparse.Namespace,
    sets: dict[str, Path],
    rows: list[dict[str, Any]],
    outcomes: Sequence[Outcome],
) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.results.mkdir(parents=True, exist_ok=True)
    path: Path = args.results / f"eval-{stamp}.json"
    document = {
        "created": stamp,
        "datasets": {name: str(path) for name, path in sets.items()},
        "budgets": list(args.budgets),
        "modes": list(args.modes),
        "salient_only": args.salient_only,
        "ingest": args.ingest,
        "live_sessions": args.live_sessions,
        "rows": rows,
        "outcomes": [
            {
                "set": o.dataset,
                "question": o.question_id,
                "kind": o.kind,
                "mode": o.mode,
                "budget": o.budget,
                "evidence": list(o.evidence),
                "landed": list(o.landed),
                "status": o.status,
                "ingest": o.ingest,
                "user_said": o.user_said,
            }
            for o in outcomes
        ],
    }
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return path


def _csv_ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(","))


def _csv_modes(text: str) -> tuple[Mode, ...]:
    modes = tuple(part.strip() for part in text.split(","))
    for mode in modes:
        if mode not in MODES:
            raise argparse.ArgumentTypeError(f"unknown mode {mode!r}; choose from {MODES}")
    return modes  # type: ignore[return-value]  # each part was checked against Mode above


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--base-url", default="http://127.0.0.1:8080")
    target.add_argument("--spawn-config", type=Path, help="start `gateway serve --config PATH`")
    parser.add_argument("--key", required=True, help="a gateway key (Authorization: Bearer)")
    parser.add_argument("--dataset", type=Path, help="one set's file (ours or LoCoMo's)")
    parser.add_argument(
        "--sets",
        default="dev",
        help=f"comma-separated sets to report side by side: {', '.join(SETS)} or file paths",
    )
    parser.add_argument("--budgets", type=_csv_ints, default=BUDGETS)
    parser.add_argument("--modes", type=_csv_modes, default=MODES)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--limit", type=int, default=0, help="only the first N conversations")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per HTTP call")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument(
        "--ingest",
        choices=tuple(INGESTS),
        default="batch",
        help="store the turns through the memory API (batch), learn them from chat traffic "
        "(live), or both",
    )
    parser.add_argument(
        "--live-sessions",
        choices=get_args(live.Sessions),
        default="prefix",
        help="live: let sessions form from each chat's opening, or send X-Session-Id",
    )
    parser.add_argument(
        "--salient-only",
        action="store_true",
        help="store only the turns that extraction.mode: turns would store",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the evaluation; ``--help`` lists the options."""
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(run(args))
    except (GatewayCallFailed, GatewayDidNotStart, httpx.HTTPError) as exc:
        print(f"run_eval: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
