"""``gateway serve --workers 2``: every scrape reports the traffic of all workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from gateway.observability.multiprocess import shared_directory
from tests.support.gateway import KEY, base_yaml, free_port
from tests.support.mock_upstream import RunningMock, wait_for

MESSAGES = [{"role": "user", "content": "hello"}]


@contextmanager
def serve_workers(
    config: Path, workers: int
) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """``gateway serve --workers N`` as a real process, until it answers /healthz."""
    port = free_port()
    descriptor, name = tempfile.mkstemp(prefix="gateway-workers-", suffix=".log")
    log = Path(name)
    command = [sys.executable, "-m", "gateway", "serve", "--config", str(config)]
    command += ["--port", str(port), "--workers", str(workers)]
    with open(descriptor, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while not _healthy(url):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield url, process, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def send(url: str, model: str) -> int:
    # A fresh connection each time, so the kernel can hand it to either worker.
    with httpx.Client(timeout=10) as client:
        response = client.post(
            f"{url}/v1/chat/completions",
            json={"model": model, "messages": MESSAGES},
            headers={"Authorization": f"Bearer {KEY}"},
        )
    return response.status_code


def requests_per_worker(directory: Path) -> dict[str, float]:
    """``gateway_requests_total`` as each worker's own file holds it, by pid."""
    counts = {}
    for path in directory.glob("counter_*.db"):
        families = MultiProcessCollector.merge([str(path)])  # type: ignore[no-untyped-call]
        counts[path.stem.rpartition("_")[2]] = sum(
            sample.value
            for family in families
            if family.name == "gateway_requests"
            for sample in family.samples
        )
    return counts


def scraped_total(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "gateway_requests"
        for sample in family.samples
        if sample.name == "gateway_requests_total"
    )


@pytest.mark.slow
def test_two_workers_report_the_sum_of_their_requests(mock: RunningMock, tmp_path: Path) -> None:
    shared = tmp_path / "metrics"
    shared.mkdir()
    stale = shared / "counter_999999.db"
    stale.write_bytes(b"left over from an earlier run")
    config = tmp_path / "gateway.yaml"
    config.write_text(base_yaml(mock.base_url) + f"metrics: {{multiprocess_dir: '{shared}'}}\n")

    with serve_workers(config, workers=2) as (url, process, log), ThreadPoolExecutor(8) as pool:
        assert not stale.exists()
        sent = 0
        # Keep sending until both workers have served some: which one accepts is the kernel's choice.
        while sum(1 for n in requests_per_worker(shared).values() if n) < 2:
            assert sent < 400, f"one worker served everything: {requests_per_worker(shared)}"
            models = ["echo", "mock"] * 4
            assert set(pool.map(lambda m: send(url, m), models)) == {200}
            sent += len(models)
        # A request is counted once its response has gone out, so just after the client has it.
        assert wait_for(lambda: sum(requests_per_worker(shared).values()) == sent), (
            requests_per_worker(shared)
        )
        for _ in range(6):
            assert scraped_total(url) == sent

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) in (0, -signal.SIGTERM), log.read_text()
    # Workers that shut down forget their live gauges; their counters stay in the sums.
    assert not list(shared.glob("gauge_live*.db"))
    assert len(list(shared.glob("counter_*.db"))) >= 2


def test_the_default_shared_directory_is_fresh_and_removed_afterwards() -> None:
    with shared_directory(None) as first, shared_directory(None) as second:
        assert first != second
        assert list(first.iterdir()) == []
        (first / "counter_1.db").write_bytes(b"x")
    assert not first.exists() and not second.exists()


def test_a_configured_shared_directory_is_emptied_of_metric_files(tmp_path: Path) -> None:
    (tmp_path / "counter_12.db").write_bytes(b"x")
    (tmp_path / "gauge_livesum_12.db").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("not ours")
    with shared_directory(tmp_path) as directory:
        assert directory == tmp_path
        assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert tmp_path.exists()


def test_a_worker_that_died_unannounced_loses_its_live_gauges(tmp_path: Path) -> None:
    from gateway.observability.multiprocess import sweep_dead_workers

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / f"gauge_livesum_{dead.pid}.db").write_bytes(b"x")
    (tmp_path / f"counter_{dead.pid}.db").write_bytes(b"x")
    (tmp_path / f"gauge_livesum_{os.getpid()}.db").write_bytes(b"x")
    sweep_dead_workers(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"counter_{dead.pid}.db", f"gauge_livesum_{os.getpid()}.db"]
    )
