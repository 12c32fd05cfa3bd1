"""Turn measured rows into the comparison table, its caveats, and the results file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from bench.measure import RowResult
from bench.targets import LABELS

_HEADER = (
    "target",
    "added p50 ms",
    "added p99 ms",
    "req/s @32",
    "p99 @32 ms",
    "RSS peak MiB",
    "TTFT added p50 ms",
    "errors",
    "goodput @32",
    "full / lexical / degraded",
    "full @50% (req/s)",
    "req/s ÷ LiteLLM",
    "goodput ÷ LiteLLM",
    "added p50 ÷ LiteLLM",
    "added p99 ÷ LiteLLM",
    "RSS ÷ LiteLLM",
)
# Above this share of a core, the load side (wrk, the mock, the harness) may be what limits req/s.
LOAD_SIDE_LIMIT = 0.85
# Other jobs slowed the target down when it waited for its core more than this share of a
# phase while other processes used more than this share of that core.
WAITING_LIMIT = 0.02
OTHERS_LIMIT = 0.05


def _ms(value: float) -> str:
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs > 0 else "n/a"


def errors(row: RowResult) -> int:
    """Failed requests of every phase (non-2xx, socket errors, broken streams)."""
    runs = [row.latency, row.load] + ([row.half.load] if row.half else [])
    return sum(r.non2xx + r.socket_errors for r in runs) + row.ttft.errors


def _added(row: RowResult, base: RowResult) -> tuple[float, float, float]:
    """(p50, p99, TTFT p50) over the baseline, in ms: differences of percentiles."""
    return (
        row.latency.p50_ms - base.latency.p50_ms,
        row.latency.p99_ms - base.latency.p99_ms,
        row.ttft.p50_ms - base.ttft.p50_ms,
    )


def _cells(row: RowResult, base: RowResult | None, ref: RowResult | None) -> list[str]:
    added = _added(row, base) if base and row is not base else None
    cells = [LABELS.get(row.name, row.name)]
    cells += [_ms(a) for a in added[:2]] if added else ["—", "—"]
    cells += [f"{row.load.rps:,.0f}", _ms(row.load.p99_ms), f"{row.rss_load.peak_mib:.0f}"]
    cells += [_ms(added[2]) if added else "—", str(errors(row))]
    memory = row.memory_load
    cells += _memory_cells(row) if memory else ["—", "—"]
    cells.append(_half_cell(row))
    ours = row.name.startswith("gateway")
    if not (ours and ref and base and added):
        return [*cells, "—", "—", "—", "—", "—"]
    ref_added = _added(ref, base)
    return [
        *cells,
        _ratio(row.load.rps, ref.load.rps),
        _ratio(goodput(row), ref.load.rps) if memory else "—",
        _ratio(added[0], ref_added[0]),
        _ratio(added[1], ref_added[1]),
        _ratio(row.rss_load.peak_mib, ref.rss_load.peak_mib),
    ]


def goodput(row: RowResult) -> float:
    """Requests per second served with their memories (full or lexical) under load; every
    request for a row without memory."""
    memory = row.memory_load
    return row.load.rps * memory.served_share if memory else row.load.rps


def _memory_cells(row: RowResult) -> list[str]:
    memory = row.memory_load
    assert memory is not None
    shares = (memory.full_share, memory.share(memory.lexical), memory.share(memory.degraded))
    return [f"{goodput(row):,.0f}", " / ".join(f"{share:.0%}" for share in shares)]


def _half_cell(row: RowResult) -> str:
    half = row.half
    if half is None or half.memory is None:
        return "—"
    return f"{half.memory.full_share:.0%} ({half.load.rps:,.0f})"


def _half_note(row: RowResult, base: RowResult | None) -> str | None:
    half = row.half
    if half is None:
        return None
    added = ""
    if base is not None:
        p50 = half.load.p50_ms - base.latency.p50_ms
        p99 = half.load.p99_ms - base.latency.p99_ms
        added = f" (added over the baseline at 1 connection: {_ms(p50)} / {_ms(p99)} ms)"
    return (
        f"{LABELS.get(row.name, row.name)}: paced at ~{half.aimed_rps:,.0f} req/s (half its req/s "
        f"@32; a random pause of {half.pause_ms} ms on average before each request) it served "
        f"{half.load.rps:,.0f} req/s, p50 {_ms(half.load.p50_ms)} ms, p99 "
        f"{_ms(half.load.p99_ms)} ms{added}."
    )


def table(rows: Sequence[RowResult]) -> str:
    """The markdown comparison table."""
    by_name = {row.name: row for row in rows}
    base, ref = by_name.get("baseline"), by_name.get("litellm")
    lines = ["| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    lines += ["| " + " | ".join(_cells(row, base, ref)) + " |" for row in rows]
    return "\n".join(lines)


def _warnings(row: RowResult) -> list[str]:
    label = LABELS.get(row.name, row.name)
    found = []
    if errors(row):
        found.append(f"{label}: {errors(row)} failed requests; its figures are not comparable.")
    for phase, use in (("at 1 connection", row.cpu_latency), ("under load", row.cpu_load)):
        if use.target_waiting > WAITING_LIMIT and use.others_on_measured_core > OTHERS_LIMIT:
            found.append(
                f"{label}: {phase}, waited for its core {use.target_waiting:.0%} of the time "
                f"while other processes used {use.others_on_measured_core:.0%} of it; rerun on "
                "a quiet machine or with --nice -20."
            )
    memory = row.memory_load
    if memory and memory.lexical:
        found.append(
            f"{label}: under load, {memory.lexical:,} of {memory.total:,} retrievals were "
            "ranked lexically (the query embedder was late or overloaded; X-Memory-Mode: "
            "lexical): served with memories, not fully ranked."
        )
    if memory and memory.degraded:
        found.append(
            f"{label}: under load, {memory.degraded:,} of {memory.total:,} retrievals went "
            f"without memories ({memory.timeout:,} past memory.retrieval.timeout_ms, "
            f"{memory.error:,} errors; X-Memory-Status: degraded)."
        )
    if row.cpu_load.load_side > LOAD_SIDE_LIMIT and row.name != "baseline":
        found.append(
            f"{label}: the load side used {row.cpu_load.load_side:.0%} of its core; req/s may "
            "be limited by wrk and the mock rather than the target."
        )
    return found


def notes(rows: Sequence[RowResult], skipped: dict[str, str]) -> list[str]:
    """Lines printed under the table: the baseline's own figures, warnings, skipped rows."""
    found = []
    base = next((row for row in rows if row.name == "baseline"), None)
    if base:
        found.append(
            f"Baseline at 1 connection: p50 {_ms(base.latency.p50_ms)} ms, p99 "
            f"{_ms(base.latency.p99_ms)} ms; TTFT p50 {_ms(base.ttft.p50_ms)} ms. Added figures "
            "are differences of percentiles. Baseline req/s is wrk's ceiling, not nginx's."
        )
    for row in rows:
        found += _warnings(row)
        half = _half_note(row, base)
        if half:
            found.append(half)
        share = row.cpu_load.target
        found.append(f"{LABELS.get(row.name, row.name)}: used {share:.0%} of its core under load.")
    found += [f"{LABELS.get(name, name)}: skipped: {why}" for name, why in skipped.items()]
    return found


def render(rows: Sequence[RowResult], skipped: dict[str, str]) -> str:
    """Table plus notes, ready to print."""
    return table(rows) + "\n\n" + "\n".join(f"- {line}" for line in notes(rows, skipped))


def write(paths: Sequence[Path], payload: dict[str, object]) -> None:
    """The results as indented JSON at each path."""
    text = json.dumps(payload, indent=2, default=str) + "\n"
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def rows_as_dicts(rows: Sequence[RowResult]) -> list[dict[str, object]]:
    """Rows for the results file, with the label the table shows."""
    return [{"label": LABELS.get(row.name, row.name), **asdict(row)} for row in rows]
