"""Benchmark command line: `python -m bench compare | scaling | soak` (or `python bench/run.py`).

`compare` is one function taking the parsed arguments; `scaling` and `soak` keep their own
command lines (bench/scaling.py, bench/soak.py), and everything after their name goes to them.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import cpu, machine, mock, procs, report, targets, workload
from bench.measure import RowResult, Settings, measure

RESULTS_DIR = procs.RESULTS_DIR
MEASURED_CORE, LOAD_CORE = 0, 1


def _settings(args: argparse.Namespace) -> Settings:
    quick = {"duration_s": 3, "warmup_s": 2, "ttft_requests": 50}
    full = {"duration_s": args.duration, "warmup_s": 5, "ttft_requests": 300}
    return Settings(
        **(quick if args.quick else full),
        load_connections=32,
        measured_core=MEASURED_CORE,
        load_core=LOAD_CORE,
        profile_dir=Path(args.profile) if args.profile else None,
    )


def _check_tools() -> None:
    missing = [tool for tool in ("nginx", "wrk", "taskset") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"missing {', '.join(missing)}: run bench/setup.sh first")
    if not {MEASURED_CORE, LOAD_CORE} <= os.sched_getaffinity(0):
        sys.exit(f"needs cores {MEASURED_CORE} and {LOAD_CORE}")


def _options(args: argparse.Namespace) -> targets.GatewayOptions:
    return targets.GatewayOptions(shed_backlog=args.shed_backlog, workers=args.workers)


def _starters(options: targets.GatewayOptions) -> dict[str, targets.Starter]:
    """Every row there is for these options: ``--workers N`` adds N-worker rows at the end."""
    starters = targets.starters(MEASURED_CORE, options)
    if options.workers > 1:
        starters |= targets.scaled_starters(MEASURED_CORE, options)
    return starters


def _selected(only: str | None, options: targets.GatewayOptions) -> list[str]:
    """Rows to run, in order; the baseline always runs because added latency needs it. With
    ``--workers N`` and no ``--only``: LiteLLM and the Chroma-server row, one worker and N."""
    names = list(_starters(options))
    if not only and options.workers > 1:
        only = ",".join(name for name in names if name.startswith(("litellm", "gateway-on-s")))
    if not only:
        return names
    wanted = {name.strip() for name in only.split(",")} | {"baseline"}
    unknown = wanted - set(names)
    if unknown:
        sys.exit(f"unknown rows {sorted(unknown)}; choose from {names}")
    return [name for name in names if name in wanted]


@dataclass
class Outcome:
    """What a comparison produced: measured rows, skipped rows with reasons, and how busy the
    measured core was (with the targets stopped) just before each row started."""

    rows: list[RowResult] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    busy_before: dict[str, float] = field(default_factory=dict)


def _run_rows(
    names: Sequence[str],
    settings: Settings,
    wait_quiet_s: float,
    options: targets.GatewayOptions,
) -> Outcome:
    outcome = Outcome()
    questions = workload.write_questions(procs.WORK_DIR / "questions.txt")
    starters = _starters(options)
    # The upstream mock lives on the load core for the whole comparison.
    with mock.serve("mock-upstream", cpu=LOAD_CORE) as upstream:
        for name in names:
            busy = cpu.wait_for_quiet(MEASURED_CORE, busy_below=0.1, timeout_s=wait_quiet_s)
            outcome.busy_before[name] = busy
            try:
                with starters[name](upstream) as target:
                    outcome.rows.append(measure(target, settings, questions, upstream.pid))
            except (targets.Skip, procs.StartupError, RuntimeError) as exc:
                # RuntimeError: wrk itself failed; the other rows can still run.
                outcome.skipped[name] = str(exc)
                print(f"[bench] {name}: skipped: {exc}", file=sys.stderr, flush=True)
    return outcome


def _command_line() -> str:
    """How this run was started, as it would be typed."""
    if sys.argv[0].endswith("__main__.py"):
        return shlex.join(["python", "-m", "bench", *sys.argv[1:]])
    return shlex.join(["python", *sys.argv])


def compare(args: argparse.Namespace) -> int:
    """Run the comparison rows one at a time and print the table."""
    _check_tools()
    # The harness itself (and wrk, the TTFT client, the samplers) stays off the measured core.
    os.sched_setaffinity(0, {LOAD_CORE})
    settings = _settings(args)
    started = time.strftime("%Y%m%d-%H%M%S")
    info = machine.describe()
    priority = procs.boosted_priority(args.nice) if args.nice else contextlib.nullcontext()
    with priority:  # inherited by targets, nginx and wrk
        options = _options(args)
        outcome = _run_rows(_selected(args.only, options), settings, args.wait_quiet, options)
    text = report.render(outcome.rows, outcome.skipped)
    print(text)
    payload: dict[str, object] = {
        "command": _command_line(),
        "started": started,
        "machine": info,
        "settings": asdict(settings),
        "gateway_options": asdict(_options(args)),
        "rows": report.rows_as_dicts(outcome.rows),
        "skipped": outcome.skipped,
        "measured_core_busy_before": outcome.busy_before,
        "table": text,
    }
    paths = [RESULTS_DIR / f"{started}.json", *([Path(args.json)] if args.json else [])]
    report.write(paths, payload)
    print(f"\nresults: {', '.join(str(p) for p in paths)}", file=sys.stderr)
    return 0


def _commands() -> dict[str, tuple[Callable[[argparse.Namespace], int], str]]:
    return {"compare": (compare, "gateway vs LiteLLM proxy vs the mock itself")}


#: Subcommands with a command line of their own: name -> (module, help).
_DELEGATED = {
    "scaling": ("bench.scaling", "retrieval p50/p95 as the store grows to 1M memories"),
    "soak": ("bench.soak", "10 minutes of mixed traffic with memory and extraction on"),
    "passthrough": ("bench.passthrough", "embeddings passed through beside a direct call"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in _DELEGATED.items():
        sub.add_parser(name, help=f"{help_text} (python -m bench {name} --help)", add_help=False)
    for name, (_, help_text) in _commands().items():
        command = sub.add_parser(name, help=help_text)
        command.add_argument("--duration", type=int, default=15, help="seconds per run")
        command.add_argument("--quick", action="store_true", help="3 s runs, for smoke tests")
        command.add_argument(
            "--only",
            help="comma-separated rows (baseline always runs): "
            + ", ".join(targets.starters(MEASURED_CORE)),
        )
        command.add_argument("--json", help="also write the results to this file")
        command.add_argument(
            "--profile",
            metavar="DIR",
            help="sample each memory-on row's load phase with py-spy into DIR/<row>.txt "
            "(collapsed stacks; summarise with python -m bench.profile DIR/<row>.txt)",
        )
        command.add_argument(
            "--shed-backlog",
            type=int,
            default=0,
            metavar="N",
            help="memory.retrieval.shed_backlog of the memory-on rows (0: shed at the deadline)",
        )
        command.add_argument(
            "--workers",
            type=int,
            default=1,
            choices=(1, 2),
            help="2: also LiteLLM and the Chroma-server gateway with 2 workers each, on both "
            "cores (the load side shares them)",
        )
        command.add_argument(
            "--wait-quiet",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help="before each row, wait up to this long for other jobs to leave core 0 idle",
        )
        command.add_argument(
            "--nice",
            type=int,
            default=0,
            help="run everything at this niceness; -20 (root only) leaves other jobs on a "
            "shared machine only the CPU time the benchmark does not want",
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for `python -m bench` and `python bench/run.py`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _DELEGATED:
        module = importlib.import_module(_DELEGATED[argv[0]][0])
        return int(module.main(argv[1:]))
    args = _parser().parse_args(argv)
    handler, _ = _commands()[args.command]
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
