"""Python's garbage collector under the gateway: every collection timed, full ones made rarer."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.observability import CollectorPauses, Metrics, tune_collector
from gateway.observability.runtime import FULL_COLLECTION_AFTER
from tests.support.gateway import base_yaml, start_gateway
from tests.support.mock_upstream import RunningMock


def pause_counts(text: str) -> dict[str, float]:
    """``gateway_gc_pause_seconds_count`` by generation."""
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gateway_gc_pause_seconds_count":
                counts[sample.labels["generation"]] = sample.value
    return counts


@pytest.fixture
def young_collections_paused() -> Iterator[None]:
    # Only the collections a test asks for: none started by allocations meanwhile.
    gc.disable()
    yield
    gc.enable()


@pytest.mark.usefixtures("young_collections_paused")
def test_collections_are_timed_by_generation_only_while_started() -> None:
    metrics = Metrics(model_names=[])
    pauses = CollectorPauses(metrics.gc_pause)
    pauses.start()
    gc.collect(0)
    gc.collect(2)
    gc.collect(2)
    pauses.stop()
    counts = pause_counts(metrics.render()[0].decode())
    assert counts == {"0": 1, "1": 0, "2": 2}
    gc.collect(2)
    assert pause_counts(metrics.render()[0].decode()) == counts


def test_tuning_keeps_young_collections_and_spaces_out_full_ones() -> None:
    before = gc.get_threshold()
    try:
        tune_collector()
        assert gc.get_threshold() == (before[0], before[1], FULL_COLLECTION_AFTER)
    finally:
        gc.set_threshold(*before)


def test_a_gateway_reports_full_collections_and_leaves_no_callback_behind(
    mock: RunningMock,
) -> None:
    callbacks = list(gc.callbacks)
    with start_gateway(base_yaml(mock.base_url)) as gateway:
        assert len(gc.callbacks) == len(callbacks) + 1
        gc.collect()
        counts = pause_counts(httpx.get(f"{gateway.url}/metrics").text)
        assert counts["2"] >= 1
    assert gc.callbacks == callbacks
