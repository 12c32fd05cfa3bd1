"""``gateway report personalization``: its statistics, and the command as an operator runs it."""

from __future__ import annotations

import math
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from gateway.api.report import (
    Estimate,
    build_report,
    parse_since,
    render,
    t_critical,
    two_proportions,
    welch,
)
from gateway.cli import main
from gateway.learning.outcomes import OUTCOMES_DB, Outcomes, Totals
from tests.support.gateway import KEY


@pytest.mark.parametrize(("df", "table"), [(5, 2.571), (10, 2.228), (30, 2.042), (1e9, 1.960)])
def test_t_critical_matches_the_table(df: float, table: float) -> None:
    assert t_critical(df) == pytest.approx(table, abs=0.005)


def test_welch_interval_by_hand() -> None:
    # Two samples: means 3 and 2, variances 2.5 and 1.0, five observations each.
    a, b = Estimate(3.0, 5, 2.5), Estimate(2.0, 5, 1.0)
    found = welch(a, b)
    assert found is not None
    se = math.sqrt(2.5 / 5 + 1.0 / 5)
    df = (0.5 + 0.2) ** 2 / (0.5**2 / 4 + 0.2**2 / 4)  # 6.76
    assert found.estimate == 1.0
    assert found.high - found.estimate == pytest.approx(t_critical(df) * se)
    assert not found.significant
    assert welch(Estimate(3.0, 1, 0.0), b) is None


def test_two_proportions_by_hand() -> None:
    found = two_proportions(Estimate(0.8, 100), Estimate(0.6, 100))
    assert found is not None
    se = math.sqrt(0.8 * 0.2 / 100 + 0.6 * 0.4 / 100)
    assert (found.low, found.high) == pytest.approx((0.2 - 1.96 * se, 0.2 + 1.96 * se), abs=1e-4)
    assert found.significant
    scaled = two_proportions(Estimate(8.0, 100), Estimate(6.0, 100), 100.0)
    assert scaled is not None
    assert scaled.estimate == pytest.approx(2.0)


@pytest.mark.parametrize(("text", "seconds"), [("7d", 604_800), ("12h", 43_200), ("30m", 1800)])
def test_since_is_a_duration(text: str, seconds: int) -> None:
    assert parse_since(text) == seconds


def test_one_cohort_alone_has_no_difference() -> None:
    totals = [
        Totals("memory", 10, {"retrieval_miss": 1, "ignored": 0, "holdout": 0}, 1, 0, 0, 0, 0, 0, 0)
    ]
    report = build_report(totals, 3600, None)
    assert set(report.differences.values()) == {None}
    assert "not enough data" in render(report)


def seeded(path: Path) -> None:
    """Records of two tenants: acme's memory cohort restates less and is rated higher."""
    outcomes = Outcomes(path, retention_s=1e9)
    now = time.time()
    for n in range(200):
        cohort = "memory" if n % 2 else "holdout"
        outcomes.record("acme", f"r{n}", f"c{n}", "digest", cohort, n % 10 == 1, now)
        if (cohort == "holdout" and n % 4 == 0) or n % 20 == 1:
            cause = "holdout" if cohort == "holdout" else "ignored"
            outcomes.restated("acme", f"r{n}", Counter({cause: 1}))
        up = (cohort == "memory" and n % 5 != 1) or (cohort == "holdout" and n % 4 == 0)
        outcomes.rate("acme", f"r{n}", "up" if up else "down", None, None)
    outcomes.record("globex", "g1", None, "digest", "memory", False, now)
    outcomes.record("acme", "old", None, "digest", "memory", False, now - 10 * 86_400)
    outcomes.close()


def config_file(tmp_path: Path) -> Path:
    config = {
        "auth": {"keys": [{"key": KEY, "tenant": "acme"}]},
        "models": [{"name": "echo", "model": "echo"}],
        "memory": {"store": {"state_dir": str(tmp_path / "state")}},
    }
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_command_prints_both_cohorts_and_the_difference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_file(tmp_path)
    seeded(tmp_path / "state" / OUTCOMES_DB)
    assert main(["report", "personalization", "--config", str(config), "--tenant", "acme"]) == 0
    out = capsys.readouterr().out
    assert "tenant acme, last 1w" in out
    exchanges = next(line for line in out.splitlines() if line.startswith("exchanges"))
    assert exchanges.split() == ["exchanges", "100", "100"]  # the 10-day-old one is outside 7d
    restated = next(line for line in out.splitlines() if line.startswith("restated facts /"))
    assert "10.00 (n=100)" in restated and "50.00 (n=100)" in restated
    difference = [line for line in out.splitlines() if "restated facts /" in line][-1]
    assert "-40.00" in difference and difference.endswith(" significant")

    assert main(["report", "personalization", "--config", str(config), "--since", "30d"]) == 0
    out = capsys.readouterr().out
    assert "all tenants, last 30d" in out
    assert next(line for line in out.splitlines() if line.startswith("exchanges")).split() == [
        "exchanges",
        "102",
        "100",
    ]


def test_the_command_says_what_is_wrong(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = config_file(tmp_path)
    assert main(["report", "personalization", "--config", str(config)]) == 1
    assert "no personalization records" in capsys.readouterr().err
    seeded(tmp_path / "state" / OUTCOMES_DB)
    assert main(["report", "personalization", "--config", str(config), "--since", "a week"]) == 2
    assert "--since" in capsys.readouterr().err
    unreachable = "http://127.0.0.1:9"
    args = ["report", "personalization", "--config", str(config), "--prometheus", unreachable]
    assert main(args) == 1
    assert "--prometheus" in capsys.readouterr().err
