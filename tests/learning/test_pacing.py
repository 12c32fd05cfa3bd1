"""The pacer: full speed when the gateway is quiet, a bounded share of the time while chats flow."""

from __future__ import annotations

import asyncio

import pytest

from gateway.learning.pacing import Pacer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def timed_turn(pacer: Pacer, clock: Clock, work_s: float) -> float:
    """Take a turn that "works" for ``work_s``; how long the turn waited before starting."""
    loop = asyncio.get_running_loop()
    asked = loop.time()
    async with pacer.turn():
        waited = loop.time() - asked
        clock.now += work_s
    return waited


@pytest.mark.asyncio
async def test_quiet_gateway_runs_jobs_back_to_back() -> None:
    clock = Clock()
    pacer = Pacer(busy_share=0.1, quiet_after_s=1.0, clock=clock)
    assert not pacer.busy
    assert await timed_turn(pacer, clock, 0.5) < 0.05
    assert await timed_turn(pacer, clock, 0.5) < 0.05


@pytest.mark.asyncio
async def test_while_chats_flow_a_job_rests_in_proportion_to_its_work() -> None:
    clock = Clock()
    pacer = Pacer(busy_share=0.5, quiet_after_s=10.0, clock=clock)
    pacer.touch()
    assert pacer.busy
    assert await timed_turn(pacer, clock, 0.1) < 0.05  # the first turn does not wait
    waited = await timed_turn(pacer, clock, 0.1)  # rests 0.1 * (1 - 0.5) / 0.5 = 0.1 s
    assert 0.08 < waited < 0.5


@pytest.mark.asyncio
async def test_chats_count_as_flowing_only_for_a_while() -> None:
    clock = Clock()
    pacer = Pacer(busy_share=0.01, quiet_after_s=1.0, clock=clock)
    pacer.touch()
    await timed_turn(pacer, clock, 0.5)
    clock.now += 1.0  # no chat for a second: quiet again, no rest owed
    assert not pacer.busy
    assert await timed_turn(pacer, clock, 0.1) < 0.05


@pytest.mark.asyncio
async def test_a_share_of_one_never_paces() -> None:
    clock = Clock()
    pacer = Pacer(busy_share=1.0, clock=clock)
    pacer.touch()
    for _ in range(3):
        assert await timed_turn(pacer, clock, 1.0) < 0.05
