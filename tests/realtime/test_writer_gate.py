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


async def test_a_message_written_while_an_opening_waits_goes_first(settings):
    settings.WRITER_IDLE_WAIT_MAX_SECONDS = 5
    order: list[str] = []
    busy = asyncio.ensure_future(in_writer(order, "message 1", 0.3))
    await asyncio.sleep(0.05)
    opened = asyncio.ensure_future(opening(order))
    await asyncio.sleep(0.05)
    # Asked for after the opening, written before it: without the gate
    # the thread would take them in the order they came.
    second = asyncio.ensure_future(in_writer(order, "message 2"))
    await asyncio.gather(busy, opened, second)
    assert order == ["message 1", "message 2", "opening"]


async def test_an_opening_waits_no_longer_than_the_setting(settings):
    """A writer never idle (a saturated demo) delays openings, never stops them."""
    settings.WRITER_IDLE_WAIT_MAX_SECONDS = 0.1
    order: list[str] = []
    busy = asyncio.ensure_future(in_writer(order, "message 1", 0.6))
    await asyncio.sleep(0.05)
    opened = asyncio.ensure_future(opening(order))
    await asyncio.sleep(0.3)
    later = asyncio.ensure_future(in_writer(order, "message 2"))
    await asyncio.gather(busy, opened, later)
    assert order == ["message 1", "opening", "message 2"]


async def test_an_opening_writes_at_once_when_the_writer_is_idle():
    order: list[str] = []
    began = time.monotonic()
    await opening(order)
    assert order == ["opening"]
    assert time.monotonic() - began < 0.5
