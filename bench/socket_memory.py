"""What one open visitor socket costs in Python memory, warm-up excluded.

Not part of the suite (it takes a minute): run it by name,

    .venv/bin/python -m pytest bench/socket_memory.py -q -s -p no:cacheprovider

It opens ``K`` visitor sockets in-process against the real WebSocket stack
(``config.asgi.build_websocket_app``), each sending ``start``, then ``K``
more, with tracemalloc snapshots after each batch. The difference between
the two snapshots, divided by ``K``, is the cost of one more socket: the
one-off costs of the first batch (lazy imports, translation and query
caches) cancel out. It prints the total and the top allocation sites; the
test harness's own share (``asgiref``/``channels`` testing) is listed
apart, as Daphne holds its own per-connection objects instead.
"""

import asyncio
import gc
import os
import tracemalloc
from typing import Any

import pytest

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from config.asgi import build_websocket_app
from realtime import runtime
from tests.factories import make_commune, make_service

K = int(os.environ.get("SOCKET_MEMORY_K", "100"))
TOP = int(os.environ.get("SOCKET_MEMORY_TOP", "25"))
FRAMES = int(os.environ.get("SOCKET_MEMORY_FRAMES", "16"))
HARNESS = ("asgiref/testing.py", "channels/testing/")

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(1800)]


async def open_visitors(app: Any, count: int) -> list[WebsocketCommunicator]:
    """Connect ``count`` visitors and start a conversation on each."""
    opened = []
    for _ in range(count):
        communicator = WebsocketCommunicator(
            app, "/ws/chat/", headers=[(b"origin", b"http://testserver")]
        )
        connected, _ = await communicator.connect(timeout=60)
        assert connected
        start = {"type": "start", "place": "33000", "role": "victim"}
        await communicator.send_json_to(start)
        frame = await communicator.receive_json_from(timeout=60)
        assert frame["type"] == "started", frame
        opened.append(communicator)
    # Let the background event sends of the last starts finish.
    await asyncio.sleep(0.2)
    return opened


def snapshot() -> tracemalloc.Snapshot:
    gc.collect()
    return tracemalloc.take_snapshot()


def short(frame: tracemalloc.Frame) -> str:
    name = frame.filename.split("site-packages/")[-1].split("/lib/python3")[-1]
    return f"{name.replace(os.getcwd() + '/', '')}:{frame.lineno}"


def owner(traceback: tracemalloc.Traceback) -> str:
    """The innermost frame of ours, else of a library, that allocated."""
    frames = list(reversed(traceback))  # innermost first
    for frame in frames:
        if os.getcwd() in frame.filename and "/.venv/" not in frame.filename:
            return short(frame)
    for frame in frames:
        if "site-packages" in frame.filename:
            return short(frame)
    return short(frames[0])


def report(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot) -> int:
    """Print the per-socket growth by site; return own bytes per socket."""
    stats = after.compare_to(before, "traceback")
    harness = [
        s for s in stats if any(h in f.filename for f in s.traceback for h in HARNESS)
    ]
    own = [s for s in stats if s not in harness]
    sites: dict[tuple[str, str], list[int]] = {}
    for stat in own:
        key = (owner(stat.traceback), short(stat.traceback[-1]))
        size, count = sites.setdefault(key, [0, 0])
        sites[key] = [size + stat.size_diff, count + stat.count_diff]
    own_total = sum(s.size_diff for s in own)
    harness_total = sum(s.size_diff for s in harness)
    print(f"\n{K} more visitor sockets, each after `start`:")
    print(f"  server side (ours, Django, Channels): {own_total / K:8.0f} B/socket")
    print(f"  test harness (left out):              {harness_total / K:8.0f} B/socket")
    by_owner: dict[str, int] = {}
    for (site, _inner), (size, _count) in sites.items():
        by_owner[site] = by_owner.get(site, 0) + size
    print("by calling site of ours (or the library's), bytes per socket:")
    for site, size in sorted(by_owner.items(), key=lambda i: -i[1])[:12]:
        print(f"  {size / K:7.0f} B  {site}")
    print(f"top {TOP} sites, bytes and blocks per socket (caller <- allocator):")
    for (site, inner), (size, count) in sorted(sites.items(), key=lambda i: -i[1][0])[
        :TOP
    ]:
        print(f"  {size / K:7.0f} B {count / K:5.1f} blk  {site} <- {inner}")
    return int(own_total / K)


async def test_bytes_per_visitor_socket(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "realtime.layers.RationedInMemoryChannelLayer"}
    }
    # As bench/run.py serves it: no queue ceiling for the load.
    settings.QUEUE_CEILING_PER_SERVICE = 10**6
    await database_sync_to_async(make_commune)()
    await database_sync_to_async(make_service)("national", name="Nationale")
    app = build_websocket_app()
    first: list[WebsocketCommunicator] = []
    second: list[WebsocketCommunicator] = []
    try:
        first += await open_visitors(app, K)
        # Traced from here only: tracing the warm-up too is much slower.
        tracemalloc.start(FRAMES)
        before = snapshot()
        second += await open_visitors(app, K)
        after = snapshot()
        report(before, after)
    finally:
        tracemalloc.stop()
        for communicator in first + second:
            await communicator.disconnect()
        await runtime.stop()
