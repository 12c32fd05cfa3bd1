"""Keeping extraction out of the way of chat traffic, in the same process.

A background job slows the replies around it in two ways: it takes CPU, and it takes the GIL.
An embedded Chroma write holds the GIL for tens of milliseconds (measured: while another thread
writes, a 1 ms sleep on the event loop wakes ~10 ms late at median, ~28 ms at p99, on one core),
and no thread priority helps with that: a low-priority thread holding the GIL only makes the
event loop wait longer. So while chats are flowing, the ``Pacer`` lets the storing phase of one
job run at a time, for at most ``busy_share`` of the wall-clock time; when the gateway is quiet,
jobs run back to back.

Only a store inside the process (``memory.store.runs_in: gateway``) needs this: the default
store child (``gateway.store.child``) and a Chroma server (``memory.store.url``) write outside
the process, and there the pacer is built with a share of 1 (no limit).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

#: Chats count as flowing for this long after one finished.
QUIET_AFTER_S = 1.0


class Pacer:
    def __init__(
        self,
        busy_share: float,
        quiet_after_s: float = QUIET_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._share = busy_share
        self._quiet_after_s = quiet_after_s
        self._clock = clock
        self._last_chat = -float("inf")
        self._rest_until = -float("inf")
        self._turn = asyncio.Lock()

    def touch(self) -> None:
        """A chat just finished."""
        self._last_chat = self._clock()

    @property
    def busy(self) -> bool:
        return self._clock() - self._last_chat < self._quiet_after_s

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold while storing one job's facts. Busy: one at a time, with a rest after each."""
        if not self.busy or self._share >= 1.0:
            yield
            return
        async with self._turn:
            rest = self._rest_until - self._clock()
            if rest > 0 and self.busy:
                await asyncio.sleep(rest)
            started = self._clock()
            try:
                yield
            finally:
                spent = self._clock() - started
                self._rest_until = self._clock() + spent * (1.0 - self._share) / self._share
