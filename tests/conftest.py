import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from django.utils import timezone, translation


@pytest.fixture(scope="session", autouse=True)
def connections_of_ended_threads(request):
    """On PostgreSQL, close the connections database threads left open.

    Each test's event loop runs its database calls in threads that end
    with it; their Django connections close only once collected, and
    PostgreSQL refuses to drop the test database while one is open ("is
    being accessed by other users"), leaving it behind.
    """
    from django.conf import settings

    if "sqlite" in settings.DATABASES["default"]["ENGINE"]:
        yield
        return
    request.getfixturevalue("django_db_setup")
    yield
    gc.collect()
    # A connection still referenced somewhere (one in a run of tests/chat
    # and tests/console) is ended from the server side.
    from django.db import connection

    with request.getfixturevalue("django_db_blocker").unblock():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


@pytest.fixture(autouse=True)
def fresh_layer(settings):
    """Give each test its own in-memory channel layer."""
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    }
    from realtime import events

    events._retry_outbox.clear()
    events._layer_failed_at = float("-inf")
    from chat import admission

    admission.memory_counters.clear()
    # This process's loop runs the test's clients as well as the sockets
    # under test: its lag says nothing of a server's. The shedding tests
    # (tests/chat/test_overload.py) set their own threshold.
    settings.OVERLOAD_LAG_SECONDS = 3600
    # Likewise the cost of a flush of the queue feed: the tests' waits
    # allow the debounce, not a spacing stretched by a busy test machine.
    # tests/console/test_queue_feed.py checks the spacing itself.
    settings.QUEUE_FLUSH_SHARE = 1.0
    from console import queue_feed

    queue_feed._flush_took = 0.0
    # Each test starts with a process whose conversations have not talked
    # (realtime.frames.setup_slot): the opening slots are the quiet ones.
    from realtime import frames

    frames._last_talk = float("-inf")
    yield
    # On PostgreSQL the sockets' loop connections would outlive the test
    # and keep its database from being dropped; SQLite's would keep the
    # test's file open.
    from realtime import loop_sqlite, loopdb

    loopdb.close_idle_connections()
    loop_sqlite.close_loop_sqlite()
    # A request through the test client leaves its language active in the
    # thread (LocaleMiddleware does not put the default back): the next
    # test would read English where the platform speaks French first.
    translation.deactivate()


@pytest.fixture
def national(db):
    """The national service, and the commune of 33000 its visitors give."""
    from tests.factories import make_commune, make_service

    make_commune()
    return make_service("national", name="Plateforme nationale")


@pytest.fixture
def feed_reads(monkeypatch):
    """``feed_reads(name)``: the service ids of each of the queue feed's reads.

    ``name`` is the read ``console.queue_feed`` calls (``list_queue_snapshots``,
    ``list_waiting_places``); the list returned fills as the feed reads.
    """
    from console import queue_feed

    def record(name: str) -> list[list[int]]:
        reads: list[list[int]] = []
        original = getattr(queue_feed, name)

        def recording(service_ids):
            reads.append(list(service_ids))
            return original(service_ids)

        monkeypatch.setattr(queue_feed, name, recording)
        return reads

    return record


@pytest.fixture
async def runtime_stopped():
    """Stop the per-process background task when a socket test ends."""
    yield
    from realtime import runtime

    await runtime.stop()


@pytest.fixture
def capture_events(django_capture_on_commit_callbacks):
    """Collect the events a service call emits once its transaction commits.

    ``with capture_events() as sent:`` around service calls in a plain
    ``django_db`` test: the commit callbacks run when the block ends, as
    the consumer's commit would, and hand their events to ``sent`` instead
    of the channel layer (``realtime.events.collecting_events``).
    """
    from realtime.events import collecting_events

    @contextmanager
    def capture() -> Iterator[list]:
        with (
            collecting_events() as collected,
            django_capture_on_commit_callbacks(execute=True),
        ):
            yield collected

    return capture


class Clock:
    """Real time plus an offset that a test moves instead of sleeping.

    Time still flows as usual; ``advance`` jumps it forward at once for
    the clocks the ``clock`` fixture patches.
    """

    def __init__(self) -> None:
        self.offset = 0.0

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class _TimeModule:
    """The ``time`` module as one module of the code under test sees it."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def monotonic(self) -> float:
        return time.monotonic() + self._clock.offset

    def time(self) -> float:
        return time.time() + self._clock.offset

    def __getattr__(self, name: str):
        return getattr(time, name)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """Move ``timezone.now`` and the sockets' ``time`` forward on demand.

    Only ``chat.socket`` and ``realtime.frames`` (the rate limit's token
    bucket) see the moved ``time`` module: patching the real
    ``time.monotonic`` would move the event loop's clock too.
    """
    from chat import socket
    from realtime import frames

    patched = Clock()
    real_now = timezone.now
    monkeypatch.setattr(
        timezone, "now", lambda: real_now() + timedelta(seconds=patched.offset)
    )
    monkeypatch.setattr(socket, "time", _TimeModule(patched))
    monkeypatch.setattr(frames, "time", _TimeModule(patched))
    return patched


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Say loudly when a run skipped anything: it then proved less."""
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    terminalreporter.write_sep(
        "!",
        f"WARNING: {len(skipped)} TEST(S) SKIPPED - this run did not prove everything",
        red=True,
        bold=True,
    )
    for report in skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
        terminalreporter.write_line(f"  SKIPPED {report.nodeid}: {reason}", red=True)


def pytest_sessionfinish(session, exitstatus):
    """Remove what SQLite's test database leaves behind it.

    Django deletes the database file, but a database thread's connection
    still open then keeps its ``-wal`` and ``-shm`` files: each run left
    two more in ``var/``.
    """
    from django.conf import settings

    database = settings.DATABASES["default"]
    name = database.get("TEST", {}).get("NAME")
    if database["ENGINE"] != "django.db.backends.sqlite3" or not name:
        return
    if not Path(name).exists():
        for suffix in ("-wal", "-shm"):
            Path(name + suffix).unlink(missing_ok=True)
