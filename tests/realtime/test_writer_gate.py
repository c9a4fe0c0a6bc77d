"""SQLite's one writer thread: openings wait for it to be idle (issue 14).

The demo writes everything in one thread, in the order the calls came.
During a surge of arrivals, the openings' writes queued among everybody's
messages and every message waited behind them. The holder of an opening
slot now waits, before each write, until the thread has nothing under way
(at most ``WRITER_IDLE_WAIT_MAX_SECONDS``). The calls here run in that
thread for real (asgiref's one thread for thread-sensitive calls); they
sleep instead of writing.
"""

import asyncio
import functools
import time

import pytest
from asgiref.sync import sync_to_async

from realtime.frames import _writer_call, setup_slot


def in_writer(order: list[str], name: str, seconds: float = 0.0):
    """A call to SQLite's writer thread that takes ``seconds``, then notes ``name``."""

    def work() -> None:
        time.sleep(seconds)
        order.append(name)

    # The thread of SQLite's writes, without touching a connection.
    return functools.partial(_writer_call, sync_to_async(work, thread_sensitive=True))()


async def opening(order: list[str]) -> None:
    async with setup_slot():
        await in_writer(order, "opening")


async def order_of_writes(busy: float, later: float) -> list[str]:
    """The order in which the writer thread ran three calls.

    A message keeps the writer busy for ``busy`` seconds; 0.05 s in, a
    slot's holder asks to write; ``later`` seconds after that, another
    message does.
    """
    order: list[str] = []
    first = asyncio.ensure_future(in_writer(order, "message 1", busy))
    await asyncio.sleep(0.05)
    opened = asyncio.ensure_future(opening(order))
    await asyncio.sleep(later)
    second = asyncio.ensure_future(in_writer(order, "message 2"))
    await asyncio.gather(first, opened, second)
    return order


@pytest.mark.parametrize(
    ("wait_max", "busy", "later", "expected"),
    [
        # Asked for after the opening, written before it: without the gate
        # the thread would take them in the order they came.
        (5, 0.3, 0.05, ["message 1", "message 2", "opening"]),
        # A writer never idle (a saturated demo) delays openings, never
        # stops them.
        (0.1, 0.6, 0.3, ["message 1", "opening", "message 2"]),
    ],
    ids=["a-later-message-goes-first", "an-opening-waits-no-longer-than-the-setting"],
)
async def test_an_opening_writes_when_the_writer_is_idle(
    settings, wait_max, busy, later, expected
):
    settings.WRITER_IDLE_WAIT_MAX_SECONDS = wait_max
    assert await order_of_writes(busy=busy, later=later) == expected


async def test_an_opening_writes_at_once_when_the_writer_is_idle():
    order: list[str] = []
    began = time.monotonic()
    await opening(order)
    assert order == ["opening"]
    assert time.monotonic() - began < 0.5
