"""How late this process's event loop runs: the loop-lag probe (issue 14).

One light task per process sleeps ``INTERVAL_SECONDS`` at a time and notes
how late it wakes. On a healthy loop that is a millisecond; on an
overloaded one every callback waits behind thousands of others, and the
probe wakes seconds late. Two figures come out of it:

- ``loop_lag_seconds()``, the recent lag: the largest lateness of the last
  ``WINDOW_SECONDS`` (or of the latest wake, or of a wake overdue right
  now). The visitor socket refuses new conversations above
  ``OVERLOAD_LAG_SECONDS`` (``chat.admission.check_not_overloaded``).
- ``lost_seconds()``, the total time the loop has been late since the
  probe started, which ``wait_on_time`` subtracts so that a time limit
  counts only the time the loop was on time: a channel-layer send is
  judged on Redis, not on our own lag (``realtime.events``).

The sockets start the probe when they open, the runtime with its task;
it knows no app. Measured on the running loop only: elsewhere (a command's
``async_to_sync``) both figures are 0 and ``wait_on_time`` is a plain
time limit.
"""

import asyncio
import contextlib
from collections import deque
from typing import Any

# A wake every 0.1 s costs nothing, and a send needing up to ten loop turns
# is never timed out by lag alone (see ``wait_on_time``).
INTERVAL_SECONDS = 0.1
WINDOW_SECONDS = 1.0


class _Probe:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.lost = 0.0  # total lateness of the wakes so far
        self.due = loop.time() + INTERVAL_SECONDS  # when the next wake is due
        self.recent: deque[tuple[float, float]] = deque()  # (woke at, late)
        self.task: asyncio.Task | None = None

    async def run(self) -> None:
        while True:
            self.due = self.loop.time() + INTERVAL_SECONDS
            await asyncio.sleep(INTERVAL_SECONDS)
            now = self.loop.time()
            late = max(0.0, now - self.due)
            self.lost += late
            self.recent.append((now, late))
            while len(self.recent) > 1 and now - self.recent[0][0] > WINDOW_SECONDS:
                self.recent.popleft()

    def overdue(self, now: float) -> float:
        """How late the wake the probe waits for already is."""
        return max(0.0, now - self.due)


_probe: _Probe | None = None


def _running() -> _Probe | None:
    """The probe of the running loop, if it runs."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    probe = _probe
    if probe is None or probe.loop is not loop or probe.task is None:
        return None
    if probe.task.done():
        return None
    return probe


def ensure_running() -> None:
    """Start the probe on the running loop unless it already runs there."""
    global _probe
    if _running() is not None:
        return
    loop = asyncio.get_running_loop()
    probe = _Probe(loop)
    probe.task = loop.create_task(probe.run())
    _probe = probe


async def stop() -> None:
    """Stop the probe (tests, shutdown)."""
    global _probe
    probe, _probe = _probe, None
    if probe is None or probe.task is None or probe.task.done():
        return
    if probe.loop is not asyncio.get_running_loop():
        if not probe.loop.is_closed():
            probe.loop.call_soon_threadsafe(probe.task.cancel)
        return
    probe.task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await probe.task


def loop_lag_seconds() -> float:
    """How late this process's loop runs now, in seconds (0 if unmeasured)."""
    probe = _running()
    if probe is None:
        return 0.0
    now = probe.loop.time()
    window = (late for at, late in probe.recent if now - at <= WINDOW_SECONDS)
    latest = probe.recent[-1][1] if probe.recent else 0.0
    return max(max(window, default=0.0), latest, probe.overdue(now))


def lost_seconds() -> float:
    """Total lateness of the running loop so far (0 if unmeasured)."""
    probe = _running()
    if probe is None:
        return 0.0
    return probe.lost + probe.overdue(probe.loop.time())


async def wait_on_time(awaitable: Any, seconds: float, *, cap: float) -> Any:
    """Await ``awaitable`` for ``seconds`` of on-time loop, ``cap`` at most.

    Like ``asyncio.wait_for``, but the time the loop ran late does not
    count: a send that needs a few loop turns is not failed because each
    turn waited behind the rest of an overloaded process. Whatever the
    lag, it gives up after ``cap`` seconds of wall time. The probe wakes
    every ``INTERVAL_SECONDS``, so at most that much of each wake is
    counted as on time: a send needing fewer than ``seconds /
    INTERVAL_SECONDS`` turns (ten for 1 s) never times out from lag alone.
    Raises ``TimeoutError`` and cancels the awaitable when time is up.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(awaitable)
    started = loop.time()
    lost_before = lost_seconds()
    try:
        while True:
            now = loop.time()
            on_time = (now - started) - (lost_seconds() - lost_before)
            remaining = min(seconds - on_time, started + cap - now)
            if remaining <= 0:
                raise TimeoutError
            done, _pending = await asyncio.wait({task}, timeout=remaining)
            if done:
                return task.result()
    finally:
        if not task.done():
            task.cancel()
            task.add_done_callback(_forget)


def _forget(task: asyncio.Task) -> None:
    """Retrieve a given-up task's outcome, so nothing is logged for it."""
    if not task.cancelled():
        task.exception()
