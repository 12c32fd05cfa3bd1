"""Child processes pinned to one core: started, awaited and stopped alike for every target."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work"
RESULTS_DIR = BENCH_DIR / "results"


class StartupError(RuntimeError):
    """A process under test exited or never became ready; the message names its log file."""


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A minimal environment, so settings of the calling shell (DATABASE_URL, proxies, API keys)
    cannot change what a target does from one machine to the next."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(extra or {})
    return env


@contextlib.contextmanager
def pinned(
    cmd: Sequence[str],
    *,
    cpu: int | str,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `cmd` on one core, or a taskset list such as "0,1" (taskset execs it, so the pid is the command's own), output to `log`,
    in its own process group so stopping it also stops its workers. Not its own session: that
    would put it in a new scheduler autogroup, out of reach of `boost_priority`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["taskset", "-c", str(cpu), *cmd],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=clean_env(env),
            cwd=cwd,
            process_group=0,
        )
        try:
            yield proc
        finally:
            stop(proc)


def stop(proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """SIGTERM the process group, SIGKILL it if it is still there after `grace_s`."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_until(
    ready: Callable[[], bool],
    proc: subprocess.Popen[bytes],
    *,
    what: str,
    log: Path,
    timeout_s: float,
) -> None:
    """Poll `ready` until it is true; fail early, naming the log, if the process exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartupError(f"{what} exited with code {proc.returncode}; see {log}")
        if ready():
            return
        time.sleep(0.25)
    raise StartupError(f"{what} not ready after {timeout_s:.0f} s; see {log}")


def http_status(
    url: str, *, body: bytes | None = None, headers: Mapping[str, str] | None = None
) -> int:
    """The status of one request, or 0 when nothing answered."""
    request = urllib.request.Request(url, data=body, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return 0


@contextlib.contextmanager
def mock_provider(
    script: Path,
    name: str,
    *,
    cpu: int,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """Run ``script mock --port PORT *args`` pinned to ``cpu``; yield its base URL once its
    chat completions endpoint answers 200."""
    port = free_port()
    log = WORK_DIR / "logs" / f"{name}-mock-{port}.log"
    command = [sys.executable, str(script), "mock", "--port", str(port), *args]
    url = f"http://127.0.0.1:{port}"
    probe = b'{"model": "x", "messages": []}'
    with pinned(command, cpu=cpu, log=log, env=env) as process:
        wait_until(
            lambda: http_status(url + "/v1/chat/completions", body=probe) == 200,
            process,
            what="mock",
            log=log,
            timeout_s=30,
        )
        yield url


@contextlib.contextmanager
def boosted_priority(nice: int) -> Iterator[None]:
    """Give this process and everything it starts niceness `nice` (negative needs root).

    With kernel autogroups on, niceness only ranks processes within one session's group, and
    groups share the CPU equally; so the group's niceness is set too, and put back on exit
    because the group outlives the harness (it is the calling shell's session).
    """
    os.setpriority(os.PRIO_PROCESS, 0, nice)
    autogroup = Path("/proc/self/autogroup")
    if not autogroup.exists():
        yield
        return
    before = autogroup.read_text().split()[-1]  # "/autogroup-4 nice 0"
    autogroup.write_text(str(nice))
    try:
        yield
    finally:
        autogroup.write_text(before)


def command_line(prog: str, argv: Sequence[str]) -> str:
    """How a run was started, as it would be typed again."""
    return " ".join([prog, shlex.join(argv)]).strip()


def save_results(name: str, payload: Mapping[str, object]) -> Path:
    """Write ``payload`` to bench/results/``name`` and say where."""
    path = RESULTS_DIR / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, default=str))
    print(f"\nresults: {path}", file=sys.stderr)
    return path
