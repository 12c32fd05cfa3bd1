"""Reloading the config file while serving: ``SIGHUP``, or ``gateway reload``.

What each request reads (models, keys, tenants' context, budgets, the injected block's
template, memory categories, holdout cohorts and feedback settings) changes on the next request;
a request already under way finishes with what it started with. The rest is built once at
startup (the port, the store, the embedding model, learning, metrics): a changed value there is
logged as needing a restart, and the running value stays. A file that fails validation changes
nothing; the error is logged with its key path. Every attempt is counted in
``gateway_config_reloads_total{outcome}`` (``applied``, ``invalid``).

``gateway serve`` writes its pid to ``<memory.store.state_dir>/gateway.pid``; ``gateway reload``
checks the file first, then sends that process ``SIGHUP``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.config import GatewayConfig, load_config
from gateway.errors import ConfigError

log = logging.getLogger("gateway.reload")

#: Key paths whose value is fixed at startup; everything else applies on reload.
RESTART_ONLY: tuple[tuple[str, ...], ...] = (
    ("server",),
    ("memory", "enabled"),
    ("memory", "store"),
    ("memory", "embedding"),
    ("memory", "cache"),
    ("extraction",),
    ("metrics",),
    # The SDK's session manager behind /mcp runs for the process's lifetime.
    ("mcp", "enabled"),
    # Read once by the outcome records (gateway.learning.outcomes); the rest of the section,
    # holdout and feedback, applies on reload.
    ("personalization", "positive_phrases"),
    ("personalization", "retention_days"),
)
PID_FILE = "gateway.pid"


@dataclass(frozen=True)
class ConfigSource:
    """Where the running config came from, to read it again."""

    path: Path
    environ: Mapping[str, str]


def merge_live(running: GatewayConfig, new: GatewayConfig) -> tuple[GatewayConfig, list[str]]:
    """``new`` with every restart-only value kept from ``running``, and the key paths of those
    that differ (what the operator asked for and did not get)."""
    merged = new.model_dump()
    current = running.model_dump()
    ignored = []
    for path in RESTART_ONLY:
        old_value, new_value = _at(current, path), _at(merged, path)
        if old_value != new_value:
            ignored.append(".".join(path))
            _put(merged, path, old_value)
    return GatewayConfig.model_validate(merged), ignored


def _at(tree: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = tree
    for key in path:
        node = node[key]
    return node


def _put(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    _at(tree, path[:-1])[path[-1]] = value


class Reloader:
    """Reads the file again and hands a valid config to ``apply``; one reload at a time."""

    def __init__(
        self,
        source: ConfigSource,
        running: GatewayConfig,
        apply: Callable[[GatewayConfig], None],
        count: Callable[[str], None],
    ) -> None:
        self._source = source
        self._running = running
        self._apply = apply
        self._count = count
        self._lock = asyncio.Lock()

    async def reload(self) -> bool:
        """Apply the file as it is now; False (and the running config kept) if it is invalid."""
        async with self._lock:
            try:
                new = await asyncio.to_thread(load_config, self._source.path, self._source.environ)
            except ConfigError as exc:
                # The message names the key path and what was expected, never a secret's value.
                log.error("config reload refused, the running config stays: %s", exc.message)
                self._count("invalid")
                return False
            merged, ignored = merge_live(self._running, new)
            for key in ignored:
                log.warning("config reload: %s changed but applies only after a restart", key)
            self._apply(merged)
            self._running = merged
            self._count("applied")
            log.info("config reloaded from %s", self._source.path)
            return True


@contextlib.contextmanager
def on_hangup(reloader: Reloader) -> Iterator[None]:
    """Reload on ``SIGHUP`` while inside; a no-op off the main thread (tests serving in one)."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[bool]] = set()

    def hangup() -> None:
        task = loop.create_task(reloader.reload())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    try:
        loop.add_signal_handler(signal.SIGHUP, hangup)
    except (ValueError, RuntimeError):
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGHUP)


def pid_file(config: GatewayConfig) -> Path:
    return config.memory.store.state_dir / PID_FILE


@contextlib.contextmanager
def written_pid(config: GatewayConfig) -> Iterator[None]:
    """``gateway serve``'s pid in the state directory while it serves."""
    path = pid_file(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{os.getpid()}\n")
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            if path.read_text().strip() == str(os.getpid()):
                path.unlink()


def signal_reload(config: GatewayConfig) -> int:
    """Send ``SIGHUP`` to the gateway serving with ``config``; its pid, or raise ``ConfigError``
    saying why there is none to signal."""
    path = pid_file(config)
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError):
        raise ConfigError(
            f"no running gateway found through {path} (is `gateway serve` running with the "
            "same memory.store.state_dir?)"
        ) from None
    return pid
