"""The extraction journal: jobs on local disk, so a crash or a restart loses none.

One SQLite file in the state directory, in WAL mode with ``synchronous=NORMAL``: a commit is a
write into the WAL file, with no fsync, so it survives the process being killed (the data is in
the operating system's cache) and costs tens of microseconds on the request path. A power cut
can lose the last moments of jobs; nothing else can.

A job moves through the file like this::

    enqueue  -> row, no owner                          (request path, before the reply ends)
    claim    -> owner + lease_until, attempts + 1      (a worker; expired leases are claimable)
    facts    -> the extracted facts saved in the row   (a replay applies exactly these)
    finish   -> row deleted                            (done, failed for good, or erased)
    retry    -> owner cleared, due_at in the future    (provider error: back off)

Several processes on one host share the file: SQLite's write lock makes a claim atomic, a lease
names its owner (``pid:nonce``), and a process starting up releases the leases and adopts the
jobs of owners that are no longer running, so a job of a killed process is picked up at once.

Two connections: one for the request path (it never checkpoints, so a request never waits for
an fsync), one for the workers, used from a single thread, which checkpoints as it goes. Its
checkpoints truncate the WAL (every housekeeping round, and after an erase): a finished job's
exchange is zeroed in the database by ``secure_delete`` and must not linger in old WAL frames.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from gateway.store.records import Scope

T = TypeVar("T")

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY,
        scope TEXT NOT NULL,
        tenant TEXT NOT NULL,
        user_id TEXT NOT NULL,
        transcript BLOB NOT NULL,
        facts BLOB,
        created_at REAL NOT NULL,
        due_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        owner TEXT,
        lease_until REAL NOT NULL DEFAULT 0,
        home TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS jobs_due ON jobs (due_at)",
    "CREATE INDEX IF NOT EXISTS jobs_scope ON jobs (scope)",
    "CREATE INDEX IF NOT EXISTS jobs_home ON jobs (home)",
    "CREATE TABLE IF NOT EXISTS erasures (scope TEXT PRIMARY KEY, erased_at REAL NOT NULL)",
)
#: A worker connection waits this long for the write lock; the request path much less.
_WORKER_BUSY_MS = 5000
_REQUEST_BUSY_MS = 250
_WAL_LIMIT_BYTES = 16 * 1024 * 1024
#: Erasure records only matter while a job older than them may still be in flight.
ERASURE_RETENTION_S = 86_400.0


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    scope: Scope
    transcript: bytes
    #: The facts saved by an earlier attempt, or None if extraction has not succeeded yet.
    facts: bytes | None
    created_at: float
    #: Claims so far, this one included.
    attempts: int
    #: The exchange it came from (``outcomes.encode_exchange``), or None.
    exchange: bytes | None = None


def new_owner() -> str:
    """A token naming this process: its pid, and a nonce telling it from an earlier one."""
    return f"{os.getpid()}:{uuid.uuid4().hex[:12]}"


def owner_alive(token: str, me: str) -> bool:
    """Whether the process that ``token`` names may still be running (on this host)."""
    if token == me:
        return True
    pid_text, _, _ = token.partition(":")
    if not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # our pid, another nonce: an earlier incarnation (a container's pid 1)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Journal:
    def __init__(self, path: Path, *, owner: str, max_backlog: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.owner = owner
        self._max_backlog = max_backlog
        self._worker_lock = threading.Lock()
        self._worker = _connect(path, _WORKER_BUSY_MS)
        for statement in _SCHEMA:
            self._worker.execute(statement)
        _add_column(self._worker, "jobs", "exchange", "BLOB")
        self._request = _connect(path, _REQUEST_BUSY_MS)
        # Checkpoints fsync the database file: leave them to the worker connection.
        self._request.execute("PRAGMA wal_autocheckpoint=0")
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="extraction-journal")

    # -- the request path ---------------------------------------------------------------------

    def enqueue(
        self, scope: Scope, transcript: bytes, now: float, exchange: bytes | None = None
    ) -> str | None:
        """Journal a job; its id, or None when the backlog is full."""
        job_id = uuid.uuid4().hex
        row = (job_id, scope.key, scope.tenant, scope.user, transcript, now, now, self.owner)
        cursor = self._request.execute(
            "INSERT INTO jobs "
            "(id, scope, tenant, user_id, transcript, created_at, due_at, home, exchange) "
            "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE (SELECT COUNT(*) FROM jobs) < ?",
            (*row, exchange, self._max_backlog),
        )
        return job_id if cursor.rowcount == 1 else None

    # -- the workers (one thread) -------------------------------------------------------------

    async def call(self, method: Callable[..., T], *args: Any) -> T:
        """Run one of the methods below on the journal's own thread, off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, method, *args)

    def claim(self, now: float, lease_s: float) -> Job | None:
        """Lease the oldest due job nobody holds, or None."""
        # RETURNING rows are read inside the lock: the statement (and its write transaction)
        # ends only once they have all been fetched.
        rows = self._read(
            "UPDATE jobs SET owner = ?, lease_until = ?, attempts = attempts + 1, home = ? "
            "WHERE id = (SELECT id FROM jobs WHERE due_at <= ? AND lease_until < ? "
            "ORDER BY due_at LIMIT 1) "
            "RETURNING id, tenant, user_id, transcript, facts, created_at, attempts, exchange",
            (self.owner, now + lease_s, self.owner, now, now),
        )
        if not rows:
            return None
        job_id, tenant, user, transcript, facts, created_at, attempts, exchange = rows[0]
        scope = Scope(tenant, user)
        return Job(job_id, scope, transcript, facts, created_at, attempts, exchange)

    def renew(self, now: float, lease_s: float) -> None:
        """Extend every lease this process holds."""
        self._write("UPDATE jobs SET lease_until = ? WHERE owner = ?", (now + lease_s, self.owner))

    def save_facts(self, job_id: str, facts: bytes) -> None:
        self._write(
            "UPDATE jobs SET facts = ? WHERE id = ? AND owner = ?", (facts, job_id, self.owner)
        )

    def finish(self, job_id: str) -> None:
        """Remove a job that is done (or given up on). A lost lease makes this a no-op: the new
        owner replays the job, which changes nothing that is already stored."""
        self._write("DELETE FROM jobs WHERE id = ? AND owner = ?", (job_id, self.owner))

    def retry_at(self, job_id: str, due_at: float, refund: bool = False) -> None:
        """Hand a job back until ``due_at``; ``refund`` gives back the attempt it used."""
        self._write(
            "UPDATE jobs SET owner = NULL, lease_until = 0, due_at = ?, "
            "attempts = attempts - ? WHERE id = ? AND owner = ?",
            (due_at, int(refund), job_id, self.owner),
        )

    def release_all(self) -> None:
        """Give back every job this process still holds (shutdown): the interrupted claims do
        not count as attempts."""
        self._write(
            "UPDATE jobs SET owner = NULL, lease_until = 0, attempts = MAX(attempts - 1, 0) "
            "WHERE owner = ?",
            (self.owner,),
        )

    def recover(self, now: float) -> int:
        """Release the leases and adopt the jobs of processes that are gone; how many jobs."""
        owners = self._read("SELECT DISTINCT owner FROM jobs WHERE owner IS NOT NULL", ())
        homes = self._read("SELECT DISTINCT home FROM jobs", ())
        recovered = 0
        for (owner,) in owners:
            if not owner_alive(owner, self.owner):
                recovered += self._write(
                    "UPDATE jobs SET owner = NULL, lease_until = 0 WHERE owner = ?", (owner,)
                )
        for (home,) in homes:
            if not owner_alive(home, self.owner):
                self._write("UPDATE jobs SET home = ? WHERE home = ?", (self.owner, home))
        self._write("DELETE FROM erasures WHERE erased_at < ?", (now - ERASURE_RETENTION_S,))
        return recovered

    def depth(self) -> int:
        """Jobs this process answers for: those it journaled or last claimed."""
        rows = self._read("SELECT COUNT(*) FROM jobs WHERE home = ?", (self.owner,))
        return int(rows[0][0])

    def due(self, now: float) -> int:
        """Jobs that could be claimed right now."""
        rows = self._read(
            "SELECT COUNT(*) FROM jobs WHERE due_at <= ? AND lease_until < ?", (now, now)
        )
        return int(rows[0][0])

    def forget(self, scope: Scope, now: float) -> int:
        """The user's data is being erased: drop their queued jobs and remember when, so a job
        already in flight elsewhere is dropped instead of applied. How many jobs went."""
        with self._worker_lock:
            self._worker.execute("BEGIN IMMEDIATE")
            try:
                deleted = self._worker.execute(
                    "DELETE FROM jobs WHERE scope = ?", (scope.key,)
                ).rowcount
                self._worker.execute(
                    "INSERT INTO erasures (scope, erased_at) VALUES (?, ?) "
                    "ON CONFLICT(scope) DO UPDATE SET erased_at = excluded.erased_at",
                    (scope.key, now),
                )
                self._worker.execute("COMMIT")
            except BaseException:
                self._worker.execute("ROLLBACK")
                raise
            # The deleted rows are zeroed in the database (secure_delete), but the WAL still
            # holds the frames that wrote them until it is truncated.
            self._truncate_wal()
        return int(deleted)

    def erased_after(self, scope: Scope, moment: float) -> bool:
        """Whether the user's data was erased after ``moment``."""
        rows = self._read(
            "SELECT 1 FROM erasures WHERE scope = ? AND erased_at >= ?", (scope.key, moment)
        )
        return bool(rows)

    def checkpoint(self) -> None:
        """Copy the WAL into the database and truncate it, so the exchanges of finished jobs
        do not stay on disk in old WAL frames (a graceful shutdown does the same)."""
        with self._worker_lock:
            self._truncate_wal()

    def _truncate_wal(self) -> None:
        # Copied first without blocking writers, so the truncation alone holds off the request
        # path's inserts (~5 ms here, against ~17 ms for a TRUNCATE that copies too); an empty
        # WAL costs nothing. Busy (a reader in another process) leaves it for the next call.
        _, frames, _ = self._worker.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if frames > 0:
            self._worker.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        with self._worker_lock:
            self._request.close()
            self._worker.close()

    def _write(self, sql: str, parameters: tuple[object, ...]) -> int:
        with self._worker_lock:
            return int(self._worker.execute(sql, parameters).rowcount)

    def _read(self, sql: str, parameters: tuple[object, ...]) -> list[tuple[Any, ...]]:
        with self._worker_lock:
            return self._worker.execute(sql, parameters).fetchall()


def _add_column(db: sqlite3.Connection, table: str, column: str, kind: str) -> None:
    """A column later versions added, for a journal an earlier version created."""
    present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    if column not in present:
        db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def _connect(path: Path, busy_ms: int) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(f"PRAGMA busy_timeout={busy_ms}")
    db.execute(f"PRAGMA journal_size_limit={_WAL_LIMIT_BYTES}")
    # Processed exchanges are deleted; do not leave their text in free pages.
    db.execute("PRAGMA secure_delete=ON")
    return db
