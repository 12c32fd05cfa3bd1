"""``gateway report personalization``: does memory help? The two cohorts side by side.

Reads the per-exchange records (``gateway.learning.outcomes``) and, per cohort, prints the
exchanges, restated facts per 100 exchanges, the thumbs-up rate, the mean score and positive
reactions per 100 exchanges; then the difference between the cohorts (memory minus holdout)
with a 95% confidence interval, significant when the interval leaves out zero. Rates of events
per exchange (restated facts) and the mean score use Welch's interval; shares (thumbs up,
exchanges with a positive reaction) the two-proportion (Wald) interval. With ``--prometheus``,
the same counts as that Prometheus sees them across every process and host it scrapes.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

import httpx

from gateway.learning.outcomes import CAUSES, Totals

Z95 = NormalDist().inv_cdf(0.975)
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
COHORT_ORDER = ("memory", "holdout")


def parse_since(text: str) -> float:
    """Seconds in ``7d``, ``12h``, ``30m``...; ValueError otherwise."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"expected a duration like 7d, 12h or 30m, not {text!r}")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


@dataclass(frozen=True, slots=True)
class Estimate:
    """A per-cohort figure: its value and the sample behind it (None when there is none)."""

    value: float | None
    n: int
    #: The sample variance of one observation (for means; 0 for shares).
    variance: float = 0.0


@dataclass(frozen=True, slots=True)
class Difference:
    """memory minus holdout, with its 95% interval."""

    estimate: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0


@dataclass(frozen=True, slots=True)
class CohortFigures:
    cohort: str
    exchanges: int
    restated_per_100: Estimate
    restated_by_cause: dict[str, float]
    thumbs_up_rate: Estimate
    mean_score: Estimate
    reactions_per_100: Estimate


def _mean(total: float, squares: float, n: int, scale: float = 1.0) -> Estimate:
    if n == 0:
        return Estimate(None, 0)
    mean = total / n
    variance = (squares - n * mean * mean) / (n - 1) if n > 1 else 0.0
    return Estimate(mean * scale, n, max(variance, 0.0) * scale * scale)


def _share(hits: int, n: int, scale: float = 1.0) -> Estimate:
    return Estimate(None if n == 0 else hits / n * scale, n)


def figures(totals: Totals) -> CohortFigures:
    n = totals.exchanges
    restated = sum(totals.restated.values())
    thumbs = totals.ups + totals.downs
    return CohortFigures(
        cohort=totals.cohort,
        exchanges=n,
        restated_per_100=_mean(restated, totals.restated_squares, n, 100.0),
        restated_by_cause={c: 100.0 * totals.restated[c] / n for c in CAUSES if n},
        thumbs_up_rate=_share(totals.ups, thumbs),
        mean_score=_mean(totals.score_sum, totals.score_squares, totals.scores),
        reactions_per_100=_share(totals.reactions, n, 100.0),
    )


def t_critical(df: float) -> float:
    """The 97.5% point of Student's t (Cornish-Fisher: 3.159 for 3.182 at df 3, within 0.005
    of the table from df 5)."""
    z = Z95
    if not math.isfinite(df) or df > 1e6:
        return z
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / df + g2 / df**2 + g3 / df**3


def welch(a: Estimate, b: Estimate) -> Difference | None:
    """The difference of two means, Welch's interval; None without two observations each."""
    if a.value is None or b.value is None or a.n < 2 or b.n < 2:
        return None
    va, vb = a.variance / a.n, b.variance / b.n
    se = math.sqrt(va + vb)
    diff = a.value - b.value
    if se == 0:
        return Difference(diff, diff, diff)
    df = (va + vb) ** 2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1))
    half = t_critical(df) * se
    return Difference(diff, diff - half, diff + half)


def two_proportions(a: Estimate, b: Estimate, scale: float = 1.0) -> Difference | None:
    """The difference of two shares (given ``scale`` times), the Wald interval."""
    if a.value is None or b.value is None:
        return None
    pa, pb = a.value / scale, b.value / scale
    se = math.sqrt(pa * (1 - pa) / a.n + pb * (1 - pb) / b.n)
    diff = pa - pb
    return Difference(diff * scale, (diff - Z95 * se) * scale, (diff + Z95 * se) * scale)


@dataclass(frozen=True, slots=True)
class Report:
    since_s: float
    tenant: str | None
    cohorts: dict[str, CohortFigures]
    differences: dict[str, Difference | None]
    prometheus: dict[str, dict[str, float]] | None = None

    def as_dict(self) -> dict[str, Any]:
        differences = {
            name: None if d is None else {**asdict(d), "significant": d.significant}
            for name, d in self.differences.items()
        }
        return {
            "since_s": self.since_s,
            "tenant": self.tenant,
            "cohorts": {name: asdict(c) for name, c in self.cohorts.items()},
            "differences": differences,
            "prometheus": self.prometheus,
        }


def build_report(totals: list[Totals], since_s: float, tenant: str | None) -> Report:
    cohorts = {t.cohort: figures(t) for t in totals}
    memory, holdout = cohorts.get("memory"), cohorts.get("holdout")
    differences: dict[str, Difference | None] = dict.fromkeys(
        ("restated_per_100", "thumbs_up_rate", "mean_score", "reactions_per_100")
    )
    if memory is not None and holdout is not None:
        differences = {
            "restated_per_100": welch(memory.restated_per_100, holdout.restated_per_100),
            "thumbs_up_rate": two_proportions(memory.thumbs_up_rate, holdout.thumbs_up_rate),
            "mean_score": welch(memory.mean_score, holdout.mean_score),
            "reactions_per_100": two_proportions(
                memory.reactions_per_100, holdout.reactions_per_100, 100.0
            ),
        }
    return Report(since_s, tenant, cohorts, differences)


def read_totals(state_dir: Path, since_s: float, tenant: str | None) -> list[Totals]:
    """The cohorts' totals from the gateway's records; FileNotFoundError when there are none."""
    from gateway.learning.outcomes import OUTCOMES_DB, Outcomes

    path = state_dir / OUTCOMES_DB
    if not path.is_file():
        raise FileNotFoundError(str(path))
    outcomes = Outcomes(path, retention_s=math.inf, read_only=True)
    try:
        return outcomes.totals(time.time() - since_s, tenant)
    finally:
        outcomes.close()


#: What ``--prometheus`` asks for, per cohort: the counters' increase over the window.
PROMETHEUS_QUERIES = {
    "exchanges": "sum by (cohort) (increase(gateway_exchanges_total{{}}[{w}]))",
    "restated_facts": "sum by (cohort) (increase(gateway_restated_facts_total{{}}[{w}]))",
    "thumbs_up": 'sum by (cohort) (increase(gateway_feedback_total{{rating="up"}}[{w}]))',
    "thumbs_down": 'sum by (cohort) (increase(gateway_feedback_total{{rating="down"}}[{w}]))',
    "positive_reactions": ("sum by (cohort) (increase(gateway_positive_reactions_total{{}}[{w}]))"),
}


def query_prometheus(url: str, window: str) -> dict[str, dict[str, float]]:
    """Each of ``PROMETHEUS_QUERIES`` over ``window``, by cohort; ValueError saying what went
    wrong when Prometheus cannot answer."""
    found: dict[str, dict[str, float]] = {}
    try:
        with httpx.Client(base_url=url.rstrip("/"), timeout=10) as client:
            for name, template in PROMETHEUS_QUERIES.items():
                query = template.format(w=window)
                response = client.get("/api/v1/query", params={"query": query})
                response.raise_for_status()
                result = response.json()["data"]["result"]
                found[name] = {r["metric"].get("cohort", "?"): float(r["value"][1]) for r in result}
    except (httpx.HTTPError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{url} did not answer the queries ({type(exc).__name__})") from exc
    return found


def _value(estimate: Estimate, digits: int, suffix: str = "") -> str:
    if estimate.value is None:
        return "-"
    return f"{estimate.value:.{digits}f}{suffix} (n={estimate.n})"


_ROWS = (
    ("restated facts / 100 exchanges", "restated_per_100", 2, ""),
    ("thumbs-up rate", "thumbs_up_rate", 3, ""),
    ("mean score (1-5)", "mean_score", 2, ""),
    ("positive reactions / 100", "reactions_per_100", 2, ""),
)


def render(report: Report) -> str:
    """The report as a table for people."""
    scope = f"tenant {report.tenant}" if report.tenant else "all tenants"
    lines = [f"Personalization: {scope}, last {_duration(report.since_s)}", ""]
    if not report.cohorts:
        return "\n".join([*lines, "No exchanges of known users in this window."])
    names = [c for c in COHORT_ORDER if c in report.cohorts]
    lines.append(f"{'':34}" + "".join(f"{name:>24}" for name in names))
    cohorts = [report.cohorts[name] for name in names]
    lines.append(f"{'exchanges':34}" + "".join(f"{c.exchanges:>24}" for c in cohorts))
    for label, attr, digits, suffix in _ROWS:
        cells = "".join(f"{_value(getattr(c, attr), digits, suffix):>24}" for c in cohorts)
        lines.append(f"{label:34}{cells}")
        if attr == "restated_per_100":
            for cause in CAUSES:
                cells = "".join(f"{c.restated_by_cause.get(cause, 0.0):>24.2f}" for c in cohorts)
                lines.append(f"{'  ' + cause:34}{cells}")
    lines += ["", "memory - holdout (95% confidence interval):"]
    for label, attr, digits, _ in _ROWS:
        lines.append(f"  {label:32}{_difference(report.differences.get(attr), digits)}")
    if report.prometheus is not None:
        lines += ["", "Prometheus (every process it scrapes), increase over the window:"]
        for name, by_cohort in report.prometheus.items():
            cells = "".join(f"{by_cohort.get(n, 0.0):>24.0f}" for n in names)
            lines.append(f"  {name:32}{cells}")
    return "\n".join(lines)


def _difference(difference: Difference | None, digits: int) -> str:
    if difference is None:
        return "not enough data"
    verdict = "significant" if difference.significant else "not significant"
    return (
        f"{difference.estimate:+.{digits}f}  [{difference.low:+.{digits}f}, "
        f"{difference.high:+.{digits}f}]  {verdict}"
    )


def _duration(seconds: float) -> str:
    for unit in ("w", "d", "h", "m"):
        if seconds % _UNIT_S[unit] == 0:
            return f"{int(seconds // _UNIT_S[unit])}{unit}"
    return f"{int(seconds)}s"
