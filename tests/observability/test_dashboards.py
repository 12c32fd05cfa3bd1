"""The Grafana dashboards: their shape, and every panel query run by a real Prometheus that has
scraped a real gateway under traffic."""

from __future__ import annotations

import json
import math
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gateway.api.report import query_prometheus
from tests.observability.prometheus import Prometheus, PromQLError, binary, running_prometheus
from tests.observability.test_endpoint import metrics_yaml
from tests.observability.test_metrics import FAMILIES
from tests.support.gateway import KEY, RunningGateway, start_gateway
from tests.support.memory import MODEL_DIR
from tests.support.mock_upstream import RunningMock

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
DATASOURCES = ROOT / "grafana" / "provisioning" / "datasources" / "prometheus.yaml"
ROWS = [
    "Traffic",
    "Latency",
    "Memory",
    "Context budget",
    "Extraction",
    "Personalization",
    "Errors",
    "Access",
]

#: What Grafana would put in place of its variables. Windows span the whole test, so every
#: increase since the first scrape counts however slowly a loaded machine runs it.
SUBSTITUTIONS = {
    "$__rate_interval": "5m",
    "$__interval": "15s",
    "$__range": "5m",
    "$model": ".*",
}

#: Panel queries allowed to return no data (no series, or only NaN), with the reason.
#: Shrink it as the request path reports more: a listed query that has data fails the test.
LEGITIMATELY_EMPTY: dict[tuple[str, str], str] = {}

#: The user whose memories the traffic reads, and what they are.
USER = "dashboard-user"
FACTS = ["I keep bees on my roof in Lisbon.", "I prefer answers with a short summary first."]


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", ())  # collapsed rows keep their panels inside


def queries() -> Iterator[tuple[str, str, str]]:
    """(panel title, refId, expression) for every query of every dashboard."""
    for path in DASHBOARDS:
        for panel in panels(json.loads(path.read_text())):
            for target in panel.get("targets", ()):
                yield panel["title"], target["refId"], target["expr"]


def substitute(expr: str) -> str:
    # Longest names first, so "$__range" cannot eat the start of a longer variable.
    for name in sorted(SUBSTITUTIONS, key=len, reverse=True):
        expr = expr.replace(name, SUBSTITUTIONS[name])
    assert "$" not in expr, f"unknown Grafana variable in {expr}"
    return expr


def test_the_dashboard_has_the_rows_and_uses_the_provisioned_datasource() -> None:
    uid = yaml.safe_load(DATASOURCES.read_text())["datasources"][0]["uid"]
    assert [p.name for p in DASHBOARDS] == ["memory-gateway.json"]
    dashboard = json.loads(DASHBOARDS[0].read_text())
    assert dashboard["title"] == "Memory Gateway"
    assert [p["title"] for p in dashboard["panels"] if p["type"] == "row"] == ROWS
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == uid, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid, panel["title"]
    for variable in dashboard["templating"]["list"]:
        assert variable["datasource"]["uid"] == uid


def test_queries_use_grafana_ranges_and_cover_every_family() -> None:
    exprs = [expr for _, _, expr in queries()]
    for expr in exprs:
        # A fixed window would be wrong for some scrape interval; Grafana picks it.
        assert not re.search(r"\[\d+[smhd]\]", expr), expr
    text = "\n".join(exprs)
    for family in FAMILIES:
        assert family in text, f"no panel shows {family}"
    titles = {(title, ref) for title, ref, _ in queries()}
    assert set(LEGITIMATELY_EMPTY) <= titles, set(LEGITIMATELY_EMPTY) - titles


def drive(gateway: RunningGateway, wave: int) -> None:
    """Traffic of every kind: plain, streamed, echo, errors of each sort, and pass-through."""
    headers = {"Authorization": f"Bearer {KEY}", "X-User-Id": USER}
    messages = [{"role": "user", "content": f"Where are my bees? Wave {wave}, I am a beekeeper."}]
    bodies: list[tuple[dict[str, Any], str, int]] = [
        ({"model": "mock"}, KEY, 200),
        ({"model": "mock", "stream": True, "stream_options": {"include_usage": True}}, KEY, 200),
        ({"model": "echo"}, KEY, 200),
        ({"model": "echo", "stream": True}, KEY, 200),
        ({"model": "mock"}, "sk-wrong", 401),
        ({"model": "no-such-model"}, KEY, 404),
        ({"model": "mock", "mock": {"mode": "fail", "status": 400}}, KEY, 400),
        ({"model": "mock", "mock": {"mode": "fail", "status": 429, "key": f"w{wave}"}}, KEY, 429),
        ({"model": "mock", "mock": {"mode": "drop"}}, KEY, 502),
        ({"model": "slow", "mock": {"delay_s": 1}}, KEY, 504),
    ]
    with httpx.Client(base_url=gateway.base_url, timeout=10) as client:
        for body, key, status in bodies:
            headers["Authorization"] = f"Bearer {key}"
            response = client.post(
                "/chat/completions", json={"messages": messages, **body}, headers=headers
            )
            assert response.status_code == status, (body, response.text)
        headers["Authorization"] = f"Bearer {KEY}"
        passed = client.post("/embeddings", json={"model": "mock", "input": "hi"}, headers=headers)
        assert passed.status_code == 200, passed.text
        react_and_rate(client, headers | {"Authorization": f"Bearer {KEY}"})


def react_and_rate(client: httpx.Client, headers: dict[str, str]) -> None:
    """A user thanking us for remembering, and ratings of the answer: a thumb and a score."""
    thanks = [{"role": "user", "content": "Thanks for remembering my bees!"}]
    response = client.post(
        "/chat/completions", json={"model": "echo", "messages": thanks}, headers=headers
    )
    assert response.status_code == 200, response.text
    for rating in ({"rating": "up"}, {"rating": "down"}, {"score": 4}):
        rated = client.post(
            "/feedback", json={"id": response.json()["id"], **rating}, headers=headers
        )
        assert rated.status_code == 200, rated.text


def remember(gateway: RunningGateway) -> None:
    """Memories for the traffic's user, so retrievals hit and context is injected."""
    headers = {"Authorization": f"Bearer {KEY}"}
    for fact in FACTS:
        response = httpx.post(
            f"{gateway.base_url}/users/{USER}/memories", json={"content": fact}, headers=headers
        )
        assert response.status_code in (200, 201), response.text


def has_data(result: list[dict[str, Any]]) -> bool:
    return any(not math.isnan(float(series["value"][1])) for series in result)


@pytest.fixture(scope="module")
def scraped(
    mock_server: RunningMock, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    """A Prometheus that has scraped a gateway before, between and after two waves of traffic,
    so every counter has a baseline and has grown since."""
    memory = {
        "memory": {
            "enabled": True,
            "store": {"path": str(tmp_path_factory.mktemp("store"))},
            "embedding": {"model_dir": str(MODEL_DIR)},
        },
        # Turns mode learns without a model call, so jobs finish quickly and deterministically.
        "extraction": {"mode": "turns"},
    }
    config = {**yaml.safe_load(metrics_yaml(mock_server)), **memory}
    with start_gateway(yaml.safe_dump(config)) as gateway:
        remember(gateway)
        target = gateway.url.removeprefix("http://")
        with running_prometheus(target, tmp_path_factory.mktemp("prometheus")) as prometheus:
            for wave in (1, 2):
                drive(gateway, wave)
                prometheus.wait_for_scrapes(2)
            yield prometheus


@pytest.mark.slow
def test_every_panel_query_runs_and_shows_data(scraped: Prometheus) -> None:
    failures, empty, stale = [], [], []
    for title, ref, expr in queries():
        try:
            result = scraped.query(substitute(expr))
        except PromQLError as error:
            failures.append(f"{title} [{ref}]: {error}")
            continue
        listed = (title, ref) in LEGITIMATELY_EMPTY
        if not has_data(result) and not listed:
            empty.append(f"{title} [{ref}]: {expr}")
        if has_data(result) and listed:
            stale.append(f"{title} [{ref}] has data now: remove it from LEGITIMATELY_EMPTY")
    assert not failures, "\n".join(failures)
    assert not empty, "queries without data:\n" + "\n".join(empty)
    assert not stale, "\n".join(stale)


@pytest.mark.slow
def test_the_model_variable_finds_models(scraped: Prometheus) -> None:
    dashboard = json.loads(DASHBOARDS[0].read_text())
    (variable,) = dashboard["templating"]["list"]
    match = re.fullmatch(r"label_values\((\w+), *(\w+)\)", variable["query"]["query"])
    assert match is not None
    metric, label = match.groups()
    assert scraped.label_values(label, metric)


@pytest.mark.slow
def test_the_report_reads_the_cohorts_counters_from_prometheus(scraped: Prometheus) -> None:
    found = query_prometheus(scraped.url, "5m")
    # Two waves of traffic by one user in the memory cohort, each thanked and rated once.
    assert found["exchanges"]["memory"] > 0
    assert found["thumbs_up"]["memory"] > 0
    assert found["thumbs_down"]["memory"] > 0
    assert found["positive_reactions"]["memory"] > 0


ALERTS = Path(__file__).resolve().parents[2] / "deploy" / "alerts.yml"


def test_the_example_alert_rules_are_valid() -> None:
    checked = subprocess.run(
        [str(Path(binary()).with_name("promtool")), "check", "rules", str(ALERTS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.slow
def test_every_alert_expression_runs_and_shows_data(scraped: Prometheus) -> None:
    rules = [
        rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]
    ]
    assert rules
    for rule in rules:
        # The ratio itself, before its threshold: a healthy gateway leaves the alert empty.
        ratio = re.sub(r"\s*[<>]=?\s*[0-9.]+\s*$", "", rule["expr"].strip())
        assert ratio != rule["expr"].strip(), rule["alert"]
        assert has_data(scraped.query(ratio)), rule["alert"]
