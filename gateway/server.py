"""Running the application under uvicorn: one process, or several workers sharing the port."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from gateway.app import create_app
from gateway.config import GatewayConfig, load_config
from gateway.connection import LimitedHTTP
from gateway.observability import tune_collector
from gateway.observability.multiprocess import MULTIPROC_ENV, shared_directory

CONFIG_ENV = "GATEWAY_CONFIG"


def create_app_from_env() -> object:
    """The factory each worker process calls; the CLI has put the config path in the env, and
    the directory where workers share their metrics."""
    tune_collector()
    config = load_config(Path(os.environ[CONFIG_ENV]), os.environ)
    shared = os.environ.get(MULTIPROC_ENV)
    if shared and config.metrics.enabled:
        config = _with_metrics_dir(config, Path(shared))
    return create_app(config)


def serve(config: GatewayConfig, config_path: Path) -> None:
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
    if server.workers == 1:
        tune_collector()
        # One process keeps its metrics in memory: a shared directory is for workers.
        uvicorn.run(create_app(_with_metrics_dir(config, None)), **options)
        return
    # Worker processes rebuild the config themselves from the same file and environment.
    os.environ[CONFIG_ENV] = str(config_path.resolve())
    with _shared_metrics(config):
        uvicorn.run(
            "gateway.server:create_app_from_env", factory=True, workers=server.workers, **options
        )


@contextmanager
def _shared_metrics(config: GatewayConfig) -> Iterator[None]:
    if not config.metrics.enabled:
        yield
        return
    with shared_directory(config.metrics.multiprocess_dir) as directory:
        # Set before uvicorn spawns the workers: prometheus_client reads it when imported.
        os.environ[MULTIPROC_ENV] = str(directory)
        yield


def _with_metrics_dir(config: GatewayConfig, directory: Path | None) -> GatewayConfig:
    metrics = config.metrics.model_copy(update={"multiprocess_dir": directory})
    return config.model_copy(update={"metrics": metrics})
