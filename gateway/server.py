"""Running the application under uvicorn: one process, or several workers sharing the port."""

from __future__ import annotations

import logging
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from gateway.app import create_app
from gateway.config import (
    CONFIG_ENV,
    MULTIPROC_ENV,
    GatewayConfig,
    export_to_workers,
    load_worker_config,
    process_environment,
    with_metrics_dir,
)
from gateway.connection import LimitedHTTP
from gateway.observability import tune_collector
from gateway.observability.multiprocess import shared_directory
from gateway.reload import ConfigSource, written_pid


def create_app_from_env() -> object:
    """The factory each worker process calls; the CLI has put the config path in the env, and
    the directory where workers share their metrics."""
    tune_collector()
    return create_app(load_worker_config(), _source(Path(process_environment()[CONFIG_ENV])))


def _source(path: Path) -> ConfigSource:
    return ConfigSource(path.resolve(), process_environment())


def serve(config: GatewayConfig, config_path: Path, sock: socket.socket) -> None:
    """Serve on ``sock`` (bound by ``gateway.listener.bind``) until SIGTERM or SIGINT, then shut
    down gracefully and return."""
    server = config.server
    logging.basicConfig(
        level=server.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    options: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "log_level": server.log_level,
        "access_log": server.access_log,
        "timeout_graceful_shutdown": int(server.shutdown_timeout_s),
        # httptools, held to the server.* limits; answers its refusals in the OpenAI shape.
        "http": LimitedHTTP(server),
        "loop": "uvloop",
        "lifespan": "on",
        "server_header": False,
    }
    # uvicorn names the address only when it binds the socket itself.
    logging.getLogger("gateway").info("listening on http://%s:%d", server.host, server.port)
    if server.workers == 1:
        tune_collector()
        # One process keeps its metrics in memory: a shared directory is for workers.
        app = create_app(with_metrics_dir(config, None), _source(config_path))
        with _signals_end_quietly(), written_pid(config):
            _run_one(uvicorn.Config(app, **options), sock)
        return
    # Worker processes rebuild the config themselves from the same file and environment.
    export_to_workers(CONFIG_ENV, str(config_path.resolve()))
    with _shared_metrics(config):
        factory = "gateway.server:create_app_from_env"
        workers = uvicorn.Config(factory, factory=True, workers=server.workers, **options)
        # SIGHUP to this supervisor makes uvicorn replace its workers one by one, each new one
        # reading the file afresh: `gateway reload` checks the file before it sends one.
        with written_pid(config):
            Multiprocess(workers, sockets=[sock]).run()


def _run_one(config: uvicorn.Config, sock: socket.socket) -> None:
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        raise SystemExit(3)  # uvicorn's own status for a failed startup


@contextmanager
def _signals_end_quietly() -> Iterator[None]:
    """Once uvicorn has shut down on SIGTERM or SIGINT, it raises the signal again into the
    handler that was there before it, by default killing the process by that signal (status
    -15, or a KeyboardInterrupt). A clean shutdown should exit 0: these handlers do nothing."""
    handled = (signal.SIGTERM, signal.SIGINT)
    previous = {sig: signal.signal(sig, _ignore) for sig in handled}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore(sig: int, frame: object) -> None:
    pass


@contextmanager
def _shared_metrics(config: GatewayConfig) -> Iterator[None]:
    if not config.metrics.enabled:
        yield
        return
    with shared_directory(config.metrics.multiprocess_dir) as directory:
        # Set before uvicorn spawns the workers: prometheus_client reads it when imported.
        export_to_workers(MULTIPROC_ENV, str(directory))
        yield
