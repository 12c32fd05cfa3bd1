"""The extraction journal on a real SQLite file: leases, recovery, backlog bound, erasure."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.learning.journal import Journal, new_owner, owner_alive
from gateway.store.records import Scope

ALICE = Scope("acme", "alice")
BOB = Scope("acme", "bob")
LEASE = 30.0


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "extraction.sqlite3"


@pytest.fixture
def journal(path: Path) -> Iterator[Journal]:
    opened = Journal(path, owner=new_owner(), max_backlog=100)
    yield opened
    opened.close()


def dead_owner() -> str:
    """The token of a process that has exited."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    return f"{int(done.stdout)}:deadbeef0000"


def test_a_job_is_claimed_once_and_gone_when_finished(journal: Journal) -> None:
    job_id = journal.enqueue(ALICE, b"transcript", now=100.0)
    assert job_id is not None and journal.depth() == 1
    job = journal.claim(now=101.0, lease_s=LEASE)
    assert job is not None
    assert (job.id, job.scope, job.transcript, job.facts, job.attempts) == (
        job_id,
        ALICE,
        b"transcript",
        None,
        1,
    )
    assert journal.claim(now=102.0, lease_s=LEASE) is None  # leased
    journal.save_facts(job.id, b"[]")
    journal.finish(job.id)
    assert journal.depth() == 0
    assert journal.claim(now=1000.0, lease_s=LEASE) is None


def test_jobs_are_claimed_oldest_first(journal: Journal) -> None:
    first = journal.enqueue(ALICE, b"1", now=1.0)
    second = journal.enqueue(BOB, b"2", now=2.0)
    assert [journal.claim(10.0, LEASE).id, journal.claim(10.0, LEASE).id] == [first, second]  # type: ignore[union-attr]


def test_an_expired_lease_is_claimed_by_another_process_with_the_saved_facts(
    path: Path, journal: Journal
) -> None:
    journal.enqueue(ALICE, b"t", now=0.0)
    mine = journal.claim(now=1.0, lease_s=LEASE)
    assert mine is not None
    journal.save_facts(mine.id, b'[["User is vegan.", "fact", false]]')
    other = Journal(path, owner=new_owner(), max_backlog=100)
    try:
        assert other.claim(now=1.0 + LEASE - 1, lease_s=LEASE) is None
        journal.renew(now=LEASE, lease_s=LEASE)  # renewed: still ours past the first expiry
        assert other.claim(now=1.0 + LEASE + 1, lease_s=LEASE) is None
        taken = other.claim(now=2 * LEASE + 1, lease_s=LEASE)
        assert taken is not None
        assert taken.facts == b'[["User is vegan.", "fact", false]]'
        assert taken.attempts == 2
        journal.finish(mine.id)  # the old owner lost its lease: a no-op
        assert other.depth() == 1
        other.finish(taken.id)
        assert other.depth() == 0
    finally:
        other.close()


def test_a_restarted_process_takes_back_the_leases_of_a_dead_one_at_once(path: Path) -> None:
    gone = Journal(path, owner=dead_owner(), max_backlog=100)
    gone.enqueue(ALICE, b"t", now=0.0)
    assert gone.claim(now=1.0, lease_s=3600) is not None
    gone.close()
    fresh = Journal(path, owner=new_owner(), max_backlog=100)
    try:
        assert fresh.depth() == 0  # the dead process answered for it
        assert fresh.claim(now=2.0, lease_s=LEASE) is None
        assert fresh.recover(now=2.0) == 1
        assert fresh.depth() == 1  # adopted
        job = fresh.claim(now=2.0, lease_s=LEASE)
        assert job is not None and job.attempts == 2
    finally:
        fresh.close()


def test_leases_of_live_processes_are_left_alone(path: Path) -> None:
    # The test runner's parent stands for another gateway process that is still running.
    running = Journal(path, owner=f"{os.getppid()}:0123456789ab", max_backlog=100)
    other = Journal(path, owner=new_owner(), max_backlog=100)
    try:
        running.enqueue(ALICE, b"t", now=0.0)
        assert running.claim(now=1.0, lease_s=3600) is not None
        assert other.recover(now=2.0) == 0
        assert other.claim(now=2.0, lease_s=LEASE) is None
        assert other.depth() == 0 and running.depth() == 1
    finally:
        running.close()
        other.close()


def test_owner_tokens() -> None:
    me = new_owner()
    assert owner_alive(me, me)
    assert not owner_alive(f"{os.getpid()}:another-nonce", me)  # an earlier incarnation
    assert not owner_alive(dead_owner(), me)
    assert owner_alive(f"{os.getppid()}:x", me)
    assert not owner_alive("garbage", me)


def test_the_backlog_is_bounded(path: Path) -> None:
    journal = Journal(path, owner=new_owner(), max_backlog=3)
    try:
        ids = [journal.enqueue(ALICE, b"t", now=float(n)) for n in range(5)]
        assert [i is not None for i in ids] == [True, True, True, False, False]
        job = journal.claim(now=10.0, lease_s=LEASE)
        assert journal.enqueue(ALICE, b"t", now=11.0) is None  # a running job still counts
        journal.finish(job.id)  # type: ignore[union-attr]
        assert journal.enqueue(ALICE, b"t", now=12.0) is not None
    finally:
        journal.close()


def test_retry_waits_until_due_and_release_does_not_count(journal: Journal) -> None:
    journal.enqueue(ALICE, b"t", now=0.0)
    job = journal.claim(now=1.0, lease_s=LEASE)
    assert job is not None
    journal.retry_at(job.id, due_at=50.0)
    assert journal.claim(now=49.0, lease_s=LEASE) is None
    assert journal.due(now=49.0) == 0 and journal.due(now=50.0) == 1
    again = journal.claim(now=50.0, lease_s=LEASE)
    assert again is not None and again.attempts == 2
    journal.release_all()
    once_more = journal.claim(now=51.0, lease_s=LEASE)
    assert once_more is not None and once_more.attempts == 2


def test_forgetting_a_user_drops_their_jobs_and_remembers_when(journal: Journal) -> None:
    journal.enqueue(ALICE, b"a1", now=1.0)
    journal.enqueue(ALICE, b"a2", now=2.0)
    journal.enqueue(BOB, b"b", now=3.0)
    assert journal.forget(ALICE, now=10.0) == 2
    job = journal.claim(now=11.0, lease_s=LEASE)
    assert job is not None and job.scope == BOB
    assert journal.erased_after(ALICE, 9.0)
    assert not journal.erased_after(ALICE, 11.0)
    assert not journal.erased_after(BOB, 0.0)


def test_processed_text_does_not_linger_in_the_file(path: Path, journal: Journal) -> None:
    marker = b"my-very-own-marker-text" * 10
    journal.enqueue(ALICE, marker, now=0.0)
    job = journal.claim(now=1.0, lease_s=LEASE)
    journal.finish(job.id)  # type: ignore[union-attr]
    journal.checkpoint()
    assert marker not in path.read_bytes()


def test_concurrent_claimers_never_share_a_job(path: Path) -> None:
    journal = Journal(path, owner=new_owner(), max_backlog=1000)
    for n in range(300):
        assert journal.enqueue(Scope("acme", f"u{n}"), b"t", now=float(n)) is not None
    journal.close()
    others = [Journal(path, owner=new_owner(), max_backlog=1000) for _ in range(3)]
    claimed: list[list[str]] = [[] for _ in others]

    def drain(index: int) -> None:
        while (job := others[index].claim(now=1e6, lease_s=LEASE)) is not None:
            claimed[index].append(job.id)

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(len(others))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for other in others:
        other.close()
    everything = [job for ids in claimed for job in ids]
    assert len(everything) == len(set(everything)) == 300


def on_disk(folder: Path, marker: bytes) -> list[str]:
    """The files under ``folder`` (the WAL and shared-memory files included) holding ``marker``."""
    return [p.name for p in folder.rglob("*") if p.is_file() and marker in p.read_bytes()]


def test_finished_jobs_leave_no_text_in_the_files(journal: Journal, path: Path) -> None:
    # Issue 16, breach 2: the WAL kept finished exchanges in clear until a graceful shutdown.
    marker = b"zq-finished-exchange-5521"
    for n in range(20):
        assert journal.enqueue(ALICE, marker + b" turn %d" % n, 1.0) is not None
    journal.checkpoint()
    assert on_disk(path.parent, marker)  # the test can fail: the text is on disk at first
    while (job := journal.claim(2.0, LEASE)) is not None:
        journal.finish(job.id)
    journal.checkpoint()
    assert on_disk(path.parent, marker) == []
    assert on_disk(path.parent, b"alice") == []


def test_forgetting_a_user_leaves_no_trace_in_the_files(journal: Journal, path: Path) -> None:
    marker = b"zq-erased-exchange-9034"
    journal.enqueue(ALICE, marker, 1.0)
    journal.enqueue(BOB, b"bob's own words", 1.0)
    assert on_disk(path.parent, marker)
    assert journal.forget(ALICE, 2.0) == 1
    assert on_disk(path.parent, marker) == []
    assert on_disk(path.parent, b"alice") == []
    assert on_disk(path.parent, b"bob's own words")  # only the erased user's rows go
