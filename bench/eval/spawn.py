"""Start ``gateway serve`` on a free loopback port for the length of an evaluation."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import httpx


class GatewayDidNotStart(Exception):
    """The spawned gateway exited or never became ready; the message names its log file."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def spawned_gateway(
    config: Path,
    ready_within: float = 180.0,
    log_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[str]:
    """Run ``gateway serve --config <config>`` and yield its base URL once GET /readyz is 200.
    ``env`` adds to the environment the config's ``${VARIABLE}`` references are read from.

    The gateway's output goes to a log file in ``log_dir`` (default: the temporary directory); it
    is kept, and named in the error, only when the gateway fails to start.
    """
    port = free_port()
    handle, log = tempfile.mkstemp(prefix="eval-gateway-", suffix=".log", dir=log_dir)
    command = ["-m", "gateway", "serve", "--config", str(config)]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *command,
            stdout=handle,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    finally:
        os.close(handle)  # the child holds its own copy
    base_url = f"http://127.0.0.1:{port}"
    try:
        try:
            async with asyncio.timeout(ready_within):
                await _wait_ready(process, base_url, log)
        except TimeoutError:
            raise GatewayDidNotStart(f"not ready after {ready_within:.0f}s; see {log}") from None
    except BaseException:
        await _stop(process)
        raise  # the log stays for the reader of the error
    try:
        yield base_url
    finally:
        await _stop(process)
    await asyncio.to_thread(os.unlink, log)


async def _wait_ready(process: asyncio.subprocess.Process, base_url: str, log: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=5.0) as http:
        while True:
            if process.returncode is not None:
                raise GatewayDidNotStart(f"gateway exited with {process.returncode}; see {log}")
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            await asyncio.sleep(0.5)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.terminate()
    try:
        async with asyncio.timeout(30):
            await process.wait()
    except TimeoutError:
        process.kill()
        await process.wait()
