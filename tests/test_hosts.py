"""Several hosts on one machine: one `chroma run` server and two `gateway serve` processes, each
with a state directory and a port of its own, as docs/operations.md describes a scale-out."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.learning.helpers import chat, facts_answer, learning_yaml, memories, wait_until
from tests.support.chroma import ChromaServer, start_chroma
from tests.support.gateway import KEY, GatewayProcess, free_port, spawn_gateway
from tests.support.mock_upstream import RunningMock, mock_provider

pytestmark = pytest.mark.slow
STALENESS_MS = 300
#: Facts far enough apart that learning stores each as a memory of its own.
FACTS = [
    "User keeps bees on a farm near Lisbon.",
    "User plays the cello in an amateur orchestra.",
    "User is allergic to peanuts.",
    "User drives a red 1987 Volvo estate.",
    "User works as a marine biologist.",
    "User's daughter is named Ana.",
    "User prefers green tea to coffee.",
    "User runs a marathon every autumn.",
    "User collects vintage postage stamps.",
    "User speaks fluent Japanese.",
    "User grows tomatoes on a balcony.",
    "User's favourite author is Jorge Luis Borges.",
    "User repairs old valve radios as a hobby.",
    "User sails a small wooden boat.",
    "User watches the stars with a telescope.",
]


@dataclass
class Cluster:
    tmp: Path
    chroma: ChromaServer
    mock: RunningMock
    hosts: dict[str, GatewayProcess]

    def config(self, name: str) -> Path:
        raw = yaml.safe_load(learning_yaml(self.tmp, self.mock.base_url, lease_s=600))
        raw["memory"]["store"] = {
            "url": self.chroma.url,
            "state_dir": str(self.tmp / name / "state"),
        }
        raw["memory"]["cache"] = {"max_staleness_ms": STALENESS_MS}
        raw["extraction"]["store_retry_s"] = 0.5
        path = self.tmp / f"{name}.yaml"
        path.write_text(yaml.safe_dump(raw))
        return path

    def start(self, name: str) -> GatewayProcess:
        self.hosts[name] = spawn_gateway(self.config(name), port=free_port())
        return self.hosts[name]

    def url(self, name: str) -> str:
        return self.hosts[name].url

    def restart_chroma(self) -> None:
        port = self.chroma.port
        self.chroma.stop()
        self.chroma = start_chroma(self.chroma.path, port)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    chroma = start_chroma(tmp_path / "chroma")
    with mock_provider() as mock:
        # Extraction finds nothing unless a test scripts facts.
        mock.state.script_default = facts_answer()
        running = Cluster(tmp_path, chroma, mock, {})
        try:
            running.start("a")
            running.start("b")
            yield running
        finally:
            for host in running.hosts.values():
                if host.process.poll() is None:
                    host.process.terminate()
                    host.process.wait(timeout=30)
            running.chroma.stop()


def add(url: str, content: str, user: str = "alice") -> None:
    response = httpx.post(
        f"{url}/v1/users/{user}/memories",
        json={"content": content, "category": "fact"},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text


def injected(mock: RunningMock, url: str, question: str, user: str = "alice") -> str:
    """Ask through the gateway at ``url``; everything the provider was sent, as text."""
    assert chat(url, question, user=user).status_code == 200
    sent = [r.body for r in mock.state.requests if "mock" in r.body][-1]
    return " ".join(str(m.get("content")) for m in sent["messages"])


def test_a_memory_written_on_one_host_is_injected_by_the_other(cluster: Cluster) -> None:
    # B knows the user (its index is cached) before A writes.
    assert "Lisbon" not in injected(cluster.mock, cluster.url("b"), "Where are my bees?")
    add(cluster.url("a"), "User keeps bees in Lisbon.")
    wait_until(
        lambda: "User keeps bees in Lisbon." in injected(cluster.mock, cluster.url("b"), "Bees?"),
        timeout=STALENESS_MS / 1000 + 2,
    )
    assert [m["content"] for m in memories(cluster.url("b"))] == ["User keeps bees in Lisbon."]


def test_after_an_erase_on_one_host_the_other_injects_nothing_on_its_next_request(
    cluster: Cluster,
) -> None:
    add(cluster.url("a"), "User's doctor is Dr. Silva.")
    wait_until(lambda: memories(cluster.url("b")))
    assert "Dr. Silva" in injected(cluster.mock, cluster.url("b"), "Who is my doctor?")
    erased = httpx.delete(
        f"{cluster.url('a')}/v1/users/alice/memories",
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=30,
    )
    assert erased.status_code in (200, 204), erased.text
    assert "Dr. Silva" not in injected(cluster.mock, cluster.url("b"), "Who is my doctor?")
    assert memories(cluster.url("b")) == []


def test_a_job_another_host_accepted_before_an_erase_stores_nothing_after_it(
    cluster: Cluster,
) -> None:
    # B's extraction call is under way while A erases the user.
    cluster.mock.state.script.append(facts_answer((FACTS[0], "fact"), delay_s=2))
    assert chat(cluster.url("b"), FACTS[0]).status_code == 200
    wait_until(lambda: [r for r in cluster.mock.state.requests if "mock" not in r.body])
    erased = httpx.delete(
        f"{cluster.url('a')}/v1/users/alice/memories",
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=30,
    )
    assert erased.status_code in (200, 204), erased.text
    time.sleep(4)  # the job's answer has come back and the job is done
    assert not _journal_jobs(cluster.tmp / "b")
    assert memories(cluster.url("a")) == [] and memories(cluster.url("b")) == []


def _journal_jobs(host: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(host / "state" / "extraction.sqlite3") as db:
        return db.execute("SELECT id FROM jobs").fetchall()


def test_jobs_of_a_host_killed_with_kill_9_are_applied_by_its_replacement(
    cluster: Cluster,
) -> None:
    facts = FACTS[:3]
    # Every extraction call of A hangs far beyond the test: its jobs are queued or in flight.
    cluster.mock.state.script_default = facts_answer(("Never stored.", "fact"), delay_s=120)
    for fact in facts:
        assert chat(cluster.url("a"), fact).status_code == 200
    wait_until(lambda: [r for r in cluster.mock.state.requests if "mock" not in r.body])
    a = cluster.hosts["a"]
    a.process.send_signal(signal.SIGKILL)
    assert a.process.wait(timeout=10) == -signal.SIGKILL

    # The replacement mounts A's state directory (its volume) and adopts the dead owner's jobs.
    cluster.mock.state.script_default = facts_answer()
    cluster.mock.state.script.extend(facts_answer((f, "fact")) for f in facts)
    cluster.start("a")
    found = wait_until(
        lambda: _contents(cluster.url("b")) if len(_contents(cluster.url("b"))) >= 3 else None,
        timeout=30,
    )
    assert found == sorted(facts)


def test_both_hosts_recover_from_a_chroma_restart_mid_traffic_with_nothing_lost(
    cluster: Cluster,
) -> None:
    facts = FACTS[3:15]
    restart = threading.Thread(target=cluster.restart_chroma)
    for number, fact in enumerate(facts):
        if number == 4:
            restart.start()  # the server goes away and comes back while chats keep coming
        cluster.mock.state.script.append(facts_answer((fact, "fact")))
        host = "ab"[number % 2]
        # Chats never fail for the store's sake: without it they go on without memories.
        reply = chat(cluster.url(host), fact, user="bob")
        assert reply.status_code == 200, reply.text
    restart.join(timeout=60)
    for host in ("a", "b"):
        found = wait_until(
            lambda h=host: (
                _contents(cluster.url(h), "bob")
                if len(_contents(cluster.url(h), "bob")) >= len(facts)
                else None
            ),
            timeout=60,
        )
        assert found == sorted(facts)
        assert httpx.get(f"{cluster.url(host)}/readyz", timeout=10).status_code == 200


def _contents(url: str, user: str = "alice") -> list[str]:
    return sorted(m["content"] for m in memories(url, user))
