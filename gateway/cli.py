"""The ``gateway`` command: ``gateway serve``, ``gateway check-config``, ``gateway memory import``,
``gateway report personalization`` and ``gateway --version``.

Exit status: 0 done; 1 the work failed (a taken port, a store another gateway holds, bad import
lines); 2 the command or its config file is wrong; 3 the application failed to start.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.metadata
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO

import gateway
from gateway.config import DEFAULT_CONFIG_PATH, GatewayConfig, load_config, with_server
from gateway.errors import ConfigError, GatewayError, StartupError
from gateway.listener import bind
from gateway.store.lock import lock_store

DISTRIBUTION = "memory-gateway"
_CONFIG_HELP = f"config file (default: $GATEWAY_CONFIG or {DEFAULT_CONFIG_PATH})"


def _config_path(given: str | None) -> Path:
    return Path(given or os.environ.get("GATEWAY_CONFIG") or DEFAULT_CONFIG_PATH)


def _fail(error: GatewayError, status: int) -> SystemExit:
    print(f"gateway: {error.message}", file=sys.stderr)
    return SystemExit(status)


def _load(path: Path) -> GatewayConfig:
    try:
        return load_config(path, os.environ)
    except ConfigError as exc:
        raise _fail(exc, 2) from None


def version() -> str:
    """The installed distribution's version, or the package's own when run from a checkout."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return gateway.__version__


def _with_overrides(config: GatewayConfig, args: argparse.Namespace) -> GatewayConfig:
    given = {"host": args.host, "port": args.port, "workers": args.workers}
    overrides = {key: value for key, value in given.items() if value is not None}
    if not overrides:
        return config
    try:
        return with_server(config, **overrides)
    except ConfigError as exc:
        raise _fail(exc, 2) from None


def _serve(args: argparse.Namespace) -> int:
    path = _config_path(args.config)
    config = _with_overrides(_load(path), args)
    # The port and the store are claimed before anything slow is imported or started (models,
    # the `chroma run` child), so a second gateway fails at once and touches nothing.
    try:
        sock = bind(config.server.host, config.server.port)
    except StartupError as exc:
        raise _fail(exc, 1) from None
    with sock, _claim_store(config):
        from gateway.server import serve

        serve(config, path, sock)
    return 0


def _claim_store(config: GatewayConfig) -> AbstractContextManager[object]:
    try:
        return lock_store(config)
    except StartupError as exc:
        raise _fail(exc, 1) from None


def _check(args: argparse.Namespace) -> int:
    if args.config and args.config_option:
        print("gateway: check-config takes one config file, not two", file=sys.stderr)
        return 2
    path = _config_path(args.config or args.config_option)
    config = _load(path)
    names = ", ".join(m.name for m in config.models)
    print(f"{path}: OK ({len(config.models)} models: {names}; {len(config.auth.keys)} keys)")
    return 0


def _reload(args: argparse.Namespace) -> int:
    path = _config_path(args.config)
    config = _load(path)  # an invalid file is refused here, before any gateway sees it
    from gateway.reload import signal_reload

    try:
        pid = signal_reload(config)
    except ConfigError as exc:
        raise _fail(exc, 1) from None
    print(f"gateway: asked the gateway (pid {pid}) to reload {path}")
    return 0


#: Bad lines are listed one by one up to this many, then only counted.
_SHOWN_BAD_LINES = 100


@contextmanager
def _opened(name: str) -> Iterator[BinaryIO]:
    if name == "-":
        yield sys.stdin.buffer
        return
    try:
        handle = open(name, "rb")  # noqa: SIM115 -- closed below, after the import
    except OSError as exc:
        print(f"gateway: cannot read {name}: {exc.strerror}", file=sys.stderr)
        raise SystemExit(2) from None
    with handle:
        yield handle


def _import_memories(args: argparse.Namespace) -> int:
    config = _load(_config_path(args.config))
    # Deferred: the embedding model and Chroma take seconds to load; `serve` does not need this.
    from gateway.api import importer

    if args.batch_size < 1:
        print("gateway: --batch-size must be at least 1", file=sys.stderr)
        return 2
    if args.tenant is not None and args.tenant not in importer.tenants(config):
        print(f"gateway: --tenant {args.tenant} is not the tenant of any key", file=sys.stderr)
        return 2
    bad: list[importer.BadLine] = []

    def report_bad(line: importer.BadLine) -> None:
        bad.append(line)
        if len(bad) <= _SHOWN_BAD_LINES:
            print(f"gateway: {args.file}: {line}; skipped", file=sys.stderr)

    started = time.monotonic()
    with _claim_store(config), _opened(args.file) as lines:
        try:
            report = asyncio.run(
                importer.import_lines(
                    config,
                    lines,
                    tenant=args.tenant,
                    batch_size=args.batch_size,
                    on_error=report_bad,
                )
            )
        except GatewayError as exc:
            print(f"gateway: {args.file}: {exc.message}", file=sys.stderr)
            return 1
    seconds = time.monotonic() - started
    if len(bad) > _SHOWN_BAD_LINES:
        print(f"gateway: ... and {len(bad) - _SHOWN_BAD_LINES} more bad lines", file=sys.stderr)
    rate = report.imported / seconds if seconds > 0 else 0.0
    print(
        f"imported {report.imported} memories for {report.users} users in {seconds:.1f} s "
        f"({rate:.0f}/s); {report.already_present} already present, "
        f"{report.skipped} bad lines skipped"
    )
    return 1 if report.skipped else 0


def _add_memory_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    memory = commands.add_parser("memory", help="manage stored memories")
    actions = memory.add_subparsers(dest="action", required=True)
    load = actions.add_parser(
        "import",
        help="import memories from a JSON-lines file",
        description='Import one memory per line: {"user_id", "content" (or "text"), '
        'optional "tenant", "category", "created_at", "metadata"}. Bad lines are '
        "skipped and reported (exit status 1); the rest are imported. Importing the same "
        "file again adds nothing twice. A gateway using the same embedded store must be stopped "
        "first: the import refuses while one holds it.",
    )
    load.add_argument("--config", help=_CONFIG_HELP)
    load.add_argument(
        "--tenant", help="tenant for lines without one (default: the first key's tenant)"
    )
    load.add_argument(
        "--batch-size", type=int, default=256, help="memories embedded per batch (default: 256)"
    )
    load.add_argument("file", help="JSON-lines file, or - for standard input")
    load.set_defaults(handler=_import_memories)


def _report_personalization(args: argparse.Namespace) -> int:
    config = _load(_config_path(args.config))
    from gateway.api import report

    try:
        since_s = report.parse_since(args.since)
    except ValueError as exc:
        print(f"gateway: --since: {exc}", file=sys.stderr)
        return 2
    try:
        totals = report.read_totals(config.memory.store.state_dir, since_s, args.tenant)
    except FileNotFoundError as exc:
        print(
            f"gateway: no personalization records at {exc} "
            "(they are written by a gateway serving with memory on)",
            file=sys.stderr,
        )
        return 1
    built = report.build_report(totals, since_s, args.tenant)
    if args.prometheus:
        try:
            found = report.query_prometheus(args.prometheus, args.since)
        except ValueError as exc:
            print(f"gateway: --prometheus: {exc}", file=sys.stderr)
            return 1
        built = dataclasses.replace(built, prometheus=found)
    if args.json:
        print(json.dumps(built.as_dict(), indent=2))
    else:
        print(report.render(built))
    return 0


def _add_report_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = commands.add_parser("report", help="reports from the gateway's own records")
    kinds = report.add_subparsers(dest="kind", required=True)
    personalization = kinds.add_parser(
        "personalization",
        help="does memory help? the memory cohort beside the holdout",
        description="Per cohort: exchanges, restated facts per 100 exchanges, thumbs-up rate, "
        "mean score and positive reactions, and the difference between the cohorts with a 95% "
        "confidence interval. Reads the records in memory.store.state_dir.",
    )
    personalization.add_argument("--config", help=_CONFIG_HELP)
    personalization.add_argument(
        "--since", default="7d", help="the window, e.g. 7d, 24h, 30m (default: 7d)"
    )
    personalization.add_argument("--tenant", help="one tenant only (default: all)")
    personalization.add_argument(
        "--prometheus", metavar="URL", help="also show the counters a Prometheus has scraped"
    )
    personalization.add_argument("--json", action="store_true", help="print JSON")
    personalization.set_defaults(handler=_report_personalization)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="OpenAI-compatible memory gateway")
    parser.add_argument("--version", action="version", version=f"gateway {version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the gateway")
    serve.add_argument("--config", help=_CONFIG_HELP)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.set_defaults(handler=_serve)
    check = commands.add_parser("check-config", help="validate a config file without serving")
    check.add_argument("--config", dest="config_option", metavar="CONFIG", help=_CONFIG_HELP)
    # The older spelling, `gateway check-config PATH`, still works.
    check.add_argument("config", nargs="?", help="the same as --config")
    check.set_defaults(handler=_check)
    reload = commands.add_parser(
        "reload", help="make the running gateway re-read its config file (SIGHUP)"
    )
    reload.add_argument("--config", help=_CONFIG_HELP)
    reload.set_defaults(handler=_reload)
    _add_memory_commands(commands)
    _add_report_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = args.handler
    return int(handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
