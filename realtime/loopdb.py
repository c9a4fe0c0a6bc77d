"""The event loop's own PostgreSQL connections, for one-statement writes.

A message whose seq its socket guessed right is stored by one statement
with no transaction around it (``chat.services.messages``). Sent through
a database thread, that statement cost the server about three times its
own client-side work: the hop to the thread and back, Django's connection
proxy and cursor wrapper, and the thread winning the GIL back from a busy
loop (bench/README.md, "Eighth pass"). Here the loop sends it itself,
with psycopg's asynchronous connections.

Nothing waits for a connection here: when every connection of the
process is in use (``LOOP_DB_CONNECTIONS``), or the database could not
be reached a moment ago, ``fetch_one`` raises ``Unavailable`` at once and
the caller takes its thread path, as before. Nor does the loop take
PostgreSQL's last ``RESERVED_SLOTS`` connection slots: a new connection
that finds fewer left is closed, and the loop does not try again for a
second. A statement that fails
for any reason returns None: the caller's usual path decides, and it
is idempotent on the message's client id, so a statement that committed
before its connection broke is found there, not stored twice.

PostgreSQL only. The connections use Django's connection parameters
(database, user, host, options, ``prepare_threshold``) in autocommit,
and are shared by every task of the process; they are not bound to an
event loop, as psycopg waits on whichever loop is running.
"""

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

logger = logging.getLogger(__name__)

# After a failed connect, the loop does not try again for this long: with
# the database down, every message would otherwise wait for a connect.
RETRY_CONNECT_SECONDS = 1.0
APPLICATION_NAME = "ecoute-loop"
# A connection idle this long is closed (a burst's extra connections).
MAX_IDLE_SECONDS = 60.0
# The loop keeps its hands off PostgreSQL's last connection slots: Django's
# threads, whose writes cannot fall back on anything, must still connect.
RESERVED_SLOTS = 10


# What PostgreSQL has left for other clients once this connection is in:
# its connection limit, less the slots kept for superusers and every row of
# pg_stat_activity. A role without pg_read_all_stats cannot tell other
# roles' sessions from the server's own processes there, so those are
# counted too: the figure errs on the side of leaving slots free.
FREE_SLOTS_SQL = (
    "SELECT current_setting('max_connections')::int"
    " - current_setting('superuser_reserved_connections')::int"
    " - count(*) FROM pg_stat_activity"
)


class _TooFewSlots(Exception):
    pass


class Unavailable(Exception):
    """The loop cannot send the statement now (no connection is free, say):
    the caller takes its thread path."""


class LoopConnections:
    """Up to ``max_size`` connections, each used by one statement at a time."""

    def __init__(
        self,
        params: Callable[[], dict[str, Any]],
        max_size: int,
        max_idle_seconds: float = MAX_IDLE_SECONDS,
        reserve: int = RESERVED_SLOTS,
    ) -> None:
        self._params = params
        self.max_size = max_size
        self.reserve = reserve
        self.max_idle_seconds = max_idle_seconds
        # Idle connections and since when, the most recently used last: a
        # statement takes the last, so after a burst the first ones stay
        # idle and are closed once they have been for ``max_idle_seconds``.
        self._idle: list[tuple[psycopg.AsyncConnection, float]] = []
        self._held = 0  # connected or connecting, idle or in use
        self._failed_at = float("-inf")

    async def fetch_one(self, sql: str, params: Sequence[Any]) -> tuple | None:
        """Run one statement in its own transaction; its first row, or None
        if it returned none or failed."""
        conn = await self._take()
        clean = False
        try:
            cursor = await conn.execute(sql, params)
            row = await cursor.fetchone()
            clean = True
            return row
        except psycopg.Error as error:
            # The message's text is in the parameters and the unique key's
            # values in the error's detail: only the error's kind is logged.
            if not isinstance(error, psycopg.errors.IntegrityError):
                logger.warning("loop statement failed: %s", type(error).__name__)
            clean = True
            return None
        finally:
            self._give_back(conn, clean)

    async def _take(self) -> psycopg.AsyncConnection:
        if self._idle:
            self._close_one_stale()
        if self._idle:
            return self._idle.pop()[0]
        if self._held >= self.max_size:
            raise Unavailable
        if time.monotonic() - self._failed_at < RETRY_CONNECT_SECONDS:
            raise Unavailable
        self._held += 1
        conn = None
        try:
            conn = await psycopg.AsyncConnection.connect(
                **self._params(), autocommit=True
            )
            cursor = await conn.execute(FREE_SLOTS_SQL)
            (free,) = await cursor.fetchone()
            if free < self.reserve:
                raise _TooFewSlots
            return conn
        except BaseException as error:
            self._held -= 1
            if conn is not None:
                _finish(conn)
            if isinstance(error, psycopg.Error | _TooFewSlots):
                self._failed_at = time.monotonic()
                logger.warning("loop connection refused: %s", type(error).__name__)
                raise Unavailable from None
            raise

    def _give_back(self, conn: psycopg.AsyncConnection, clean: bool) -> None:
        """Keep ``conn`` for the next statement if it is idle and sound.

        A statement cancelled half way (its socket closed) leaves the
        connection busy: it is closed, not reused.
        """
        idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        if clean and idle and not conn.closed and not conn.broken:
            self._idle.append((conn, time.monotonic()))
            return
        self._held -= 1
        _finish(conn)

    def _close_one_stale(self) -> None:
        conn, since = self._idle[0]
        if time.monotonic() - since > self.max_idle_seconds:
            del self._idle[0]
            self._held -= 1
            _finish(conn)

    def close_idle(self) -> int:
        """Close the idle connections (tests, before their database goes)."""
        closed = len(self._idle)
        for conn, _since in self._idle:
            _finish(conn)
        self._held -= closed
        self._idle.clear()
        return closed


def _finish(conn: psycopg.AsyncConnection) -> None:
    # libpq's own close, which does not wait: callable from a task being
    # cancelled or from synchronous code.
    try:
        conn.pgconn.finish()
    except Exception:  # noqa: BLE001 - closing a connection that may be gone.
        logger.debug("closing a loop connection failed", exc_info=True)


def django_params() -> dict[str, Any]:
    """psycopg's connect arguments from Django's settings for the database.

    Read at each connect, so a test database's name is the one used.
    Django's own cursor class and adapters are for its synchronous
    connections: psycopg's defaults bind on the server as Django's do.
    """
    params = connections[DEFAULT_DB_ALIAS].get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params["application_name"] = APPLICATION_NAME
    params.setdefault("connect_timeout", 5)
    return params


_connections: LoopConnections | None = None


def loop_connections() -> LoopConnections:
    """The process's loop connections (PostgreSQL only)."""
    global _connections
    if _connections is None:
        _connections = LoopConnections(django_params, settings.LOOP_DB_CONNECTIONS)
    return _connections


def close_idle_connections() -> int:
    """Close the process's idle loop connections, if it has any."""
    return 0 if _connections is None else _connections.close_idle()
