"""``kill -9`` while a job is pending, then a restart: the fact still arrives."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import pytest

from tests.learning.helpers import chat, facts_answer, learning_yaml, memories, wait_until
from tests.support.gateway import GatewayProcess, free_port, spawn_gateway
from tests.support.mock_upstream import RunningMock


def pending_jobs(tmp_path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(tmp_path / "state" / "extraction.sqlite3") as db:
        return db.execute("SELECT id, owner, facts FROM jobs").fetchall()


def stop(gateway: GatewayProcess) -> None:
    if gateway.process.poll() is None:
        gateway.process.terminate()
        gateway.process.wait(timeout=30)


@pytest.mark.slow
def test_a_job_survives_kill_9_and_is_done_after_a_restart(
    tmp_path: Path, scripted: RunningMock
) -> None:
    fact = ("User keeps bees in Lisbon.", "fact")
    # The first extraction call hangs far longer than the test: the job is in flight when killed.
    scripted.state.script.append(facts_answer(fact, delay_s=60))
    scripted.state.script_default = facts_answer(fact)
    config = tmp_path / "gateway.yaml"
    # A lease far longer than the test: only recovery of the dead owner can free the job.
    config.write_text(learning_yaml(tmp_path, scripted.base_url, lease_s=600))

    first = spawn_gateway(config, port=free_port())
    try:
        assert chat(first.url, "I keep bees in Lisbon.").status_code == 200
        wait_until(lambda: [r for r in scripted.state.requests if "mock" not in r.body])
        first.process.send_signal(signal.SIGKILL)
        assert first.process.wait(timeout=10) == -signal.SIGKILL
    finally:
        stop(first)
    [(job_id, owner, facts)] = pending_jobs(tmp_path)
    assert owner is not None and facts is None  # leased by the dead process, not yet extracted

    second = spawn_gateway(config, port=free_port())
    try:
        found = wait_until(lambda: memories(second.url), timeout=30)
        assert [(m["content"], m["category"], m["evidence"]) for m in found] == [
            ("User keeps bees in Lisbon.", "fact", 1)
        ]
        wait_until(lambda: not pending_jobs(tmp_path))
    finally:
        stop(second)
    extraction_calls = [r for r in scripted.state.requests if "mock" not in r.body]
    assert len(extraction_calls) == 2
    assert job_id
