"""The simulation behind the personalization report: a population with known differences, run
through a real gateway (echo model, turns mode, real Chroma), must come out of
``gateway report personalization`` with those differences inside the report's intervals, and a
population without differences must come out with none significant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.personalization import Population, simulate
from gateway.cli import main
from tests.support.gateway import KEY, OTHER_KEY, start_gateway
from tests.support.memory import MODEL_DIR

#: Small enough for CI, large enough that the differences are far outside the noise. A 95%
#: interval misses the truth one time in twenty: of seeds 1-8, seed 1 draws a thumbs-up
#: difference 2.4 standard errors from the truth, and the others all pass.
POPULATION = Population(users=60, turns=4, seed=2)


def sim_yaml(tmp_path: Path) -> str:
    config = {
        "auth": {"keys": [{"key": KEY, "tenant": "acme"}, {"key": OTHER_KEY, "tenant": "globex"}]},
        "models": [{"name": "echo", "model": "echo"}],
        "memory": {
            "store": {
                "path": str(tmp_path / "chroma"),
                "state_dir": str(tmp_path / "state"),
                # In process: no store child to start or to starve on a busy CI machine.
                "runs_in": "gateway",
            },
            "embedding": {"model_dir": str(MODEL_DIR)},
        },
        "extraction": {
            "mode": "turns",
            "poll_interval_s": 0.05,
            "concurrency": 4,
            "busy_share": 1.0,
        },
        "personalization": {"holdout_percent": 50, "holdout_salt": "simulation"},
    }
    return yaml.safe_dump(config)


def report(config: Path, tenant: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    code = main(
        ["report", "personalization", "--config", str(config), "--tenant", tenant, "--json"]
    )
    assert code == 0
    parsed: dict[str, Any] = json.loads(capsys.readouterr().out)
    return parsed


@pytest.mark.slow
def test_the_report_recovers_known_differences_and_finds_none_where_there_are_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = sim_yaml(tmp_path)
    config = tmp_path / "gateway.yaml"
    config.write_text(text)
    with start_gateway(text) as gateway:
        tally = simulate(gateway.url, KEY, POPULATION, prefix="effect")
        null_tally = simulate(gateway.url, OTHER_KEY, POPULATION.null(), prefix="null")
        effect = report(config, "acme", capsys)
        null = report(config, "globex", capsys)

    # Both cohorts are populated, and every exchange the simulation made was recorded.
    for found, made in ((effect, tally), (null, null_tally)):
        assert {name: c["exchanges"] for name, c in found["cohorts"].items()} == made.exchanges
        assert min(made.exchanges.values()) > POPULATION.users

    # The report measured exactly what the simulation did...
    measured = effect["differences"]
    rate = {c: 100 * tally.restated[c] / tally.exchanges[c] for c in tally.exchanges}
    assert measured["restated_per_100"]["estimate"] == pytest.approx(
        rate["memory"] - rate["holdout"]
    )
    ups = {c: tally.ups[c] / tally.rated[c] for c in tally.rated}
    assert measured["thumbs_up_rate"]["estimate"] == pytest.approx(ups["memory"] - ups["holdout"])
    # ...and its intervals hold the population's true differences.
    truth = POPULATION.truth()
    for metric in ("restated_per_100", "thumbs_up_rate"):
        found = effect["differences"][metric]
        assert found["low"] <= truth[metric] <= found["high"], (metric, truth[metric], found)
        assert found["significant"], (metric, found)
        assert not null["differences"][metric]["significant"], (metric, null["differences"])

    # The holdout's restatements are all counted as such; the memory cohort's were injected.
    holdout = effect["cohorts"]["holdout"]["restated_by_cause"]
    memory = effect["cohorts"]["memory"]["restated_by_cause"]
    assert holdout["holdout"] > 0
    assert holdout["ignored"] == holdout["retrieval_miss"] == 0
    assert memory["holdout"] == 0
    assert memory["ignored"] > 0
