"""The things measured, each started on the measured core and awaited until it answers.

Every target is a context manager yielding a `Target`; leaving the block stops it. A target
that cannot run here raises `Skip` with the reason, and the comparison goes on without it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from bench import mock, procs, workload
from gateway.store import lexical, snapshots

LITELLM_VENV = procs.WORK_DIR / "litellm-venv"
LITELLM_KEY = "sk-bench-key"  # LiteLLM insists master keys start with "sk-"
GATEWAY_KEY = "bench-key"
EMBEDDING_MODEL_DIR = procs.REPO_DIR.parent / "shared" / "models" / "all-MiniLM-L6-v2" / "onnx"
MEMORY_BUDGET_TOKENS = 1000
#: The gateway's name for the mock's embedding model.
EMBEDDING_MODEL = "mock-embedding"
STARTUP_TIMEOUT_S = 180.0
#: The core the harness keeps for the load side (run.py): a Chroma server the target uses runs
#: there, as it would on another machine.
LOAD_CORE = 1


class Skip(Exception):
    """This target cannot run on this machine; the message says why and what to do."""


@dataclass(frozen=True)
class Target:
    """A running target: where its plain and streaming models answer, and its process."""

    name: str
    pid: int
    api_key: str
    plain_url: str
    plain_model: str
    stream_url: str
    stream_model: str
    log: Path
    #: Our gateway's ``GET /metrics``, where memory retrieval outcomes are counted.
    metrics_url: str | None = None


def _headers(api_key: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {api_key}",
        "Content-Type": "application/json",
        "X-User-Id": workload.user_id(0),
    }


def _await_ready(target: Target, proc: subprocess.Popen[bytes]) -> None:
    """Ready means a real chat completion through the whole path answers 200."""
    body = workload.chat_body(target.plain_model, 0)
    headers = _headers(target.api_key)

    def ready() -> bool:
        return procs.http_status(target.plain_url, body=body, headers=headers) == 200

    procs.wait_until(ready, proc, what=target.name, log=target.log, timeout_s=STARTUP_TIMEOUT_S)


def _write_yaml(path: Path, content: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    return path


@contextlib.contextmanager
def baseline(_upstream: mock.Mock, *, cpu: int) -> Iterator[Target]:
    """The mock itself, on the measured core: the floor every proxy's latency is added to."""
    with mock.serve("mock-baseline", cpu=cpu) as server:
        yield Target(
            name="baseline",
            pid=server.pid,
            api_key="none",
            plain_url=f"{server.plain_base}/chat/completions",
            plain_model="mock-plain",
            stream_url=f"{server.stream_base}/chat/completions",
            stream_model="mock-stream",
            log=server.log,
        )


def litellm_config(upstream: mock.Mock) -> dict[str, Any]:
    """LiteLLM proxy as its production guide sets it up, minus everything that needs a database.

    A master key makes LiteLLM authenticate every request, as our gateway does. Without a
    DATABASE_URL there are no spend or error logs to write; the disable_* flags say so
    explicitly in case a database is ever configured.
    """
    models = [
        ("mock-plain", upstream.plain_base),
        ("mock-stream", upstream.stream_base),
    ]
    return {
        "model_list": [
            {
                "model_name": name,
                "litellm_params": {
                    "model": "openai/mock",
                    "api_base": base,
                    "api_key": "dummy",
                    "timeout": 30,
                },
            }
            for name, base in models
        ],
        "general_settings": {
            "master_key": LITELLM_KEY,
            "disable_spend_logs": True,
            "disable_error_logs": True,
            "trusted_proxy_ranges": [],  # clients connect directly; also silences a warning
        },
        "litellm_settings": {"request_timeout": 30, "set_verbose": False, "json_logs": False},
    }


# LITELLM_LOG sets both litellm's loggers and uvicorn's level, so WARNING also silences the
# per-request access log; PRODUCTION stops it reading a .env file from the working directory.
LITELLM_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOG": "WARNING",
    "LITELLM_MODE": "PRODUCTION",
    "DISABLE_SCHEMA_UPDATE": "true",
}


@contextlib.contextmanager
def litellm(upstream: mock.Mock, *, cpu: int | str, workers: int = 1) -> Iterator[Target]:
    """LiteLLM proxy, ``workers`` uvicorn workers (one by default), in its own venv (see
    setup.sh)."""
    exe = LITELLM_VENV / "bin" / "litellm"
    if not exe.exists():
        raise Skip(f"no LiteLLM proxy at {exe}: run bench/setup.sh")
    home = procs.WORK_DIR / "litellm"
    config = _write_yaml(home / "config.yaml", litellm_config(upstream))
    port = procs.free_port()
    name = "litellm" if workers == 1 else f"litellm-{workers}w"
    log = procs.WORK_DIR / "logs" / f"{name}.log"
    cmd = [str(exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--num_workers", str(workers)]
    with procs.pinned(cmd, cpu=cpu, log=log, env=LITELLM_ENV, cwd=home) as proc:
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        models = ("mock-plain", url, "mock-stream")
        target = Target(name, proc.pid, LITELLM_KEY, url, *models, log)
        _await_ready(target, proc)
        yield target


def gateway_command() -> list[str] | None:
    """How to run the `gateway` console script, or None while it does not exist yet."""
    script = shutil.which("gateway")
    if script:
        return [script]
    if importlib.util.find_spec("gateway") and importlib.util.find_spec("gateway.cli"):
        # Not pip-installed: run the same entry point from the checkout.
        return [sys.executable, "-c", "import sys; from gateway.cli import main; sys.exit(main())"]
    return None


@dataclass(frozen=True)
class GatewayOptions:
    """What `compare`'s command line changes in the memory-on gateway's config."""

    #: ``memory.retrieval.shed_backlog``: 0 sheds the query embedder only at the deadline.
    shed_backlog: int = 0
    #: ``server.workers``.
    workers: int = 1


def gateway_config(
    port: int,
    upstream: mock.Mock,
    store: Path | None,
    store_url: str | None = None,
    options: GatewayOptions = GatewayOptions(),
) -> dict[str, Any]:
    """The gateway's config (gateway/config.py); `store` None means memory off.

    Logging at warning, like LiteLLM's. Extraction is off in both: these rows measure the
    request path. Against this mock, which answers at once, a learning worker would take every
    idle moment of the core for the whole run (measured: memory on's p50 at 1 connection rose
    from ~9.7 to ~12.5 ms), a load no real extraction model produces; what learning costs chats
    is measured by `bench.learning_bench` and `bench soak` (docs/benchmarks.md: Learning).
    """
    memory: dict[str, Any] = {"enabled": False}
    if store is not None:
        memory = {
            "enabled": True,
            # The state (generations, snapshots) lives beside Chroma, so copying `store` copies
            # one consistent store; the default (./data/state) would be shared by every run.
            "store": (
                {"url": store_url, "state_dir": str(store / "state")}
                if store_url
                else {"path": str(store / "chroma"), "state_dir": str(store / "state")}
            ),
            "embedding": {"model_dir": str(EMBEDDING_MODEL_DIR)},
            "retrieval": {"shed_backlog": options.shed_backlog},
        }
    server = {"host": "127.0.0.1", "port": port, "log_level": "warning"}
    if options.workers > 1:
        server["workers"] = options.workers
    return {
        "server": server,
        "auth": {"keys": [{"key": GATEWAY_KEY, "tenant": "bench"}]},
        "models": [
            {
                "name": "mock-plain",
                "model": "openai/mock",
                "api_base": upstream.plain_base,
                "api_key": "dummy",
                "timeout_s": 30,
            },
            {
                "name": "mock-stream",
                "model": "openai/mock",
                "api_base": upstream.stream_base,
                "api_key": "dummy",
            },
            {
                # Passed through (bench.passthrough): POST /v1/embeddings.
                "name": EMBEDDING_MODEL,
                "model": "openai/mock-embedding",
                "api_base": upstream.plain_base,
                "api_key": "dummy",
                "timeout_s": 30,
            },
        ],
        "memory": memory,
        "context": {"budget_tokens": MEMORY_BUDGET_TOKENS},
        "extraction": {"enabled": False},
    }


def _seeded_store(command: list[str], upstream: mock.Mock) -> Path:
    """A fresh copy of the seeded memory store (seeding once, copying for every run, so
    memories written during one run never change the next)."""
    seed_dir = procs.WORK_DIR / "gateway-store-seed"
    marker = seed_dir / ".seeded"
    # Snapshots of another format or lexicon would be misses: every user read from Chroma.
    version = f"snapshots {snapshots.FORMAT}, lexicon {lexical.LEXICON}"
    if not marker.exists() or marker.read_text() != version:
        shutil.rmtree(seed_dir, ignore_errors=True)
        records = workload.write_memories(procs.WORK_DIR / "memories.jsonl")
        config = _write_yaml(
            procs.WORK_DIR / "gateway-seed" / "config.yaml",
            gateway_config(procs.free_port(), upstream, seed_dir),
        )
        log = procs.WORK_DIR / "logs" / "gateway-seed.log"
        with log.open("wb") as out:
            done = subprocess.run(
                [*command, "memory", "import", "--config", str(config), str(records)],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=procs.REPO_DIR,
                env=procs.clean_env(),
                check=False,
            )
        if done.returncode != 0:
            raise Skip(f"seeding memories failed (exit {done.returncode}); see {log}")
        marker.write_text(version)
    run_dir = procs.WORK_DIR / "gateway-store-run"
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.copytree(seed_dir, run_dir)
    return run_dir


@contextlib.contextmanager
def gateway(
    upstream: mock.Mock,
    *,
    cpu: int | str,
    memory: bool,
    server: bool = False,
    options: GatewayOptions = GatewayOptions(),
) -> Iterator[Target]:
    """Our gateway via `gateway serve --config`, memory off or on (seeded store); with
    ``server``, the seeded store is served by a `chroma run` server on the load core, as several
    gateways would share it (per-request generation checks included)."""
    command = gateway_command()
    if command is None:
        raise Skip("the `gateway` command does not exist yet (gateway/cli.py)")
    name = ("gateway-on-server" if server else "gateway-on") if memory else "gateway-off"
    if options.workers > 1:
        name += f"-{options.workers}w"
    store = _seeded_store(command, upstream) if memory else None
    with contextlib.ExitStack() as stack:
        store_url = None
        if server and store is not None:
            store_url = stack.enter_context(_chroma_server(store / "chroma"))
        port = procs.free_port()
        config = _write_yaml(
            procs.WORK_DIR / name / "config.yaml",
            gateway_config(port, upstream, store, store_url, options),
        )
        log = procs.WORK_DIR / "logs" / f"{name}.log"
        cmd = [*command, "serve", "--config", str(config)]
        # The checkout's code, even where the `gateway` script is an editable install of
        # another checkout (a git worktree): PYTHONPATH comes before the editable install's
        # finder.
        checkout = {"PYTHONPATH": str(procs.REPO_DIR)}
        with procs.pinned(cmd, cpu=cpu, log=log, cwd=procs.REPO_DIR, env=checkout) as proc:
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            models = ("mock-plain", url, "mock-stream")
            metrics = f"http://127.0.0.1:{port}/metrics"
            target = Target(name, proc.pid, GATEWAY_KEY, url, *models, log, metrics)
            _await_ready(target, proc)
            yield target


#: `chroma run` through the Rust bindings' CLI: the console script spends ~4 s importing Python.
_CHROMA = "import sys, chromadb_rust_bindings as b; b.cli(['chroma'] + sys.argv[1:])"


@contextlib.contextmanager
def _chroma_server(path: Path) -> Iterator[str]:
    """A `chroma run` server for ``path`` on the load core (it stands for another machine)."""
    port = procs.free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-c", _CHROMA, "run", "--path", str(path), "--port", str(port)]
    log = procs.WORK_DIR / "logs" / "chroma-server.log"
    with procs.pinned(cmd, cpu=LOAD_CORE, log=log) as proc:

        def ready() -> bool:
            return procs.http_status(f"{url}/api/v2/heartbeat") == 200

        procs.wait_until(ready, proc, what="chroma run", log=log, timeout_s=STARTUP_TIMEOUT_S)
        yield url


Starter = Callable[[mock.Mock], contextlib.AbstractContextManager[Target]]


def starters(cpu: int, options: GatewayOptions = GatewayOptions()) -> dict[str, Starter]:
    """Every row of the comparison, in the order it runs."""
    one = replace(options, workers=1)
    return {
        "baseline": lambda upstream: baseline(upstream, cpu=cpu),
        "litellm": lambda upstream: litellm(upstream, cpu=cpu),
        "gateway-off": lambda upstream: gateway(upstream, cpu=cpu, memory=False),
        "gateway-on": lambda upstream: gateway(upstream, cpu=cpu, memory=True, options=one),
        "gateway-on-server": lambda upstream: gateway(
            upstream, cpu=cpu, memory=True, server=True, options=one
        ),
    }


def scaled_starters(cpu: int, options: GatewayOptions) -> dict[str, Starter]:
    """The rows of ``--workers N``: LiteLLM and the memory-on gateway (which needs a Chroma
    server for more than one worker) with N workers each, on every core: the load side shares
    them (there are only two here)."""
    cores = f"{cpu},{LOAD_CORE}"
    n = options.workers
    return {
        f"litellm-{n}w": lambda upstream: litellm(upstream, cpu=cores, workers=n),
        f"gateway-on-server-{n}w": lambda upstream: gateway(
            upstream, cpu=cores, memory=True, server=True, options=options
        ),
    }


LABELS = {
    "baseline": "mock direct (baseline)",
    "litellm": "LiteLLM proxy",
    "gateway-off": "gateway, memory off",
    "gateway-on": "gateway, memory on",
    "gateway-on-server": "gateway, memory on, Chroma server",
    "litellm-2w": "LiteLLM proxy, 2 workers",
    "gateway-on-server-2w": "gateway, memory on, Chroma server, 2 workers",
}
