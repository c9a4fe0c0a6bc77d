"""The event loop's own PostgreSQL connections, for one-statement writes.

A message whose seq its socket guessed right is stored by one statement
with no transaction around it (``chat.services.messages``). Sent through
a database thread, that statement cost the server about three times its
own client-side work: the hop to the thread and back, Django's connection
proxy and cursor wrapper, and the thread winning the GIL back from a busy
loop (bench/README.md, "Eighth pass"). Here the loop sends it itself,
with psycopg's asynchronous connections.

Statements leave in batches: each connection sends one batch at a time,
and the statements that come while every connection (up to
``LOOP_DB_CONNECTIONS``) is busy leave together in the next one, one
transaction with psycopg's pipeline mode. A batch costs one round trip
and one commit however many messages it stores, so the busier the
process, the less each message costs it and PostgreSQL. A batch sends
its statements in their callers' order (a conversation's id), so two
batches lock rows in the same order and cannot deadlock each other.

When the database could not be reached a moment ago, ``fetch_one``
raises ``Unavailable`` at once and the caller takes its thread path, as
it does when a new connection fails. Nor does the loop take PostgreSQL's
last ``RESERVED_SLOTS`` connection slots: a new connection that finds
fewer left is closed, and the loop does not try again for a second. A
statement that fails for any reason returns None, and so do the others
of its batch, which rolled back with it: the callers' usual path
decides, and it is idempotent on the message's client id, so a statement
that committed before its connection broke is found there, not stored
twice.

PostgreSQL only. The connections use Django's connection parameters
(database, user, host, options, ``prepare_threshold``) in autocommit,
and are shared by every task of the process; they are not bound to an
event loop, as psycopg waits on whichever loop is running.
"""

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
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
# At most this many statements in one batch, one transaction.
MAX_BATCH = 64


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
    """The loop cannot send the statement now (the database was out of its
    reach a moment ago, say): the caller takes its thread path."""


@dataclass
class _Pending:
    """A statement waiting for its batch, and where its row goes."""

    order: str
    sql: str
    params: Sequence[Any]
    row: asyncio.Future


class LoopConnections:
    """Statements sent in batches, over up to ``max_size`` connections."""

    def __init__(
        self,
        params: Callable[[], dict[str, Any]],
        max_size: int,
        max_idle_seconds: float = MAX_IDLE_SECONDS,
        reserve: int = RESERVED_SLOTS,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._params = params
        self.max_size = max_size
        self.reserve = reserve
        self.max_idle_seconds = max_idle_seconds
        self.max_batch = max_batch
        # Idle connections and since when, the most recently used last: a
        # sender takes the last, so after a burst the first ones stay idle
        # and are closed once they have been for ``max_idle_seconds``.
        self._idle: list[tuple[psycopg.AsyncConnection, float]] = []
        self._failed_at = float("-inf")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: list[_Pending] = []
        self._senders: set[asyncio.Task] = set()

    async def fetch_one(
        self, sql: str, params: Sequence[Any], order: str = ""
    ) -> tuple | None:
        """Run one statement; its first row, or None if it returned none
        or failed, or if another statement of its batch failed.

        The statement waits for the next batch to leave: at once if a
        connection is free, else when one is. Each batch is one
        transaction, its statements sent in ``order`` so that two batches
        lock rows in the same order and cannot deadlock each other. A
        caller cancelled before its batch leaves takes its statement out;
        once sent, the statement runs to its end whatever its caller does.
        """
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A new event loop (tests run one each): what the last one
            # left queued or sending died with it.
            self._loop, self._queue, self._senders = loop, [], set()
        if self._connect_failed_lately() and not (self._idle or self._senders):
            raise Unavailable
        row = loop.create_future()
        self._queue.append(_Pending(order, sql, params, row))
        if len(self._senders) < self.max_size:
            self._start_sender()
        return await row

    def _connect_failed_lately(self) -> bool:
        return time.monotonic() - self._failed_at < RETRY_CONNECT_SECONDS

    def _start_sender(self) -> None:
        # A task of its own, so that it runs on the next turn of the loop,
        # once every statement queued during this one is in.
        sender = asyncio.ensure_future(self._send_batches())
        self._senders.add(sender)
        sender.add_done_callback(self._sender_done)

    def _sender_done(self, sender: asyncio.Task) -> None:
        self._senders.discard(sender)
        if not sender.cancelled() and sender.exception() is not None:
            error = sender.exception()
            logger.error("loop sender failed: %s", type(error).__name__)
        # A sender stops early when its connection broke: if nobody is
        # left to send what is queued, another one starts.
        if self._queue and not self._senders and not sender.cancelled():
            self._start_sender()

    async def _send_batches(self) -> None:
        if not self._queue:
            return
        try:
            conn = await self._take()
        except Unavailable:
            # The others still running will send the queue; if none is,
            # its callers take their thread path.
            if len(self._senders) == 1:
                self._fail_queue()
            return
        sound = False
        try:
            while self._queue:
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
                if not await self._send(conn, batch):
                    break
            sound = True
        finally:
            self._give_back(conn, sound)

    def _fail_queue(self) -> None:
        queued, self._queue = self._queue, []
        for pending in queued:
            if not pending.row.done():
                pending.row.set_exception(Unavailable())

    async def _send(self, conn: psycopg.AsyncConnection, batch: list[_Pending]) -> bool:
        """Run ``batch`` in one transaction and answer its callers; False
        if the connection is no longer fit for the next one."""
        batch = [pending for pending in batch if not pending.row.done()]
        batch.sort(key=attrgetter("order"))
        rows: list[tuple | None] = [None] * len(batch)
        try:
            if len(batch) == 1:
                cursor = await conn.execute(batch[0].sql, batch[0].params)
                rows = [await cursor.fetchone()]
            elif batch:
                # One implicit transaction from the first statement to the
                # sync: one commit for the batch, and a failure anywhere
                # rolls every statement of it back.
                async with conn.pipeline() as pipeline:
                    cursors = [
                        await conn.execute(pending.sql, pending.params)
                        for pending in batch
                    ]
                    await pipeline.sync()
                    rows = [await cursor.fetchone() for cursor in cursors]
        except psycopg.Error as error:
            # The message's text is in the parameters and the unique key's
            # values in the error's detail: only the error's kind is logged.
            if not isinstance(error, psycopg.errors.IntegrityError):
                logger.warning("loop statement failed: %s", type(error).__name__)
            rows = [None] * len(batch)
        finally:
            # Cancelled half way (the process is stopping): nothing is
            # known to be stored, and the callers' usual path decides.
            for pending, row in zip(batch, rows, strict=True):
                if not pending.row.done():
                    pending.row.set_result(row)
        return not conn.broken

    async def _take(self) -> psycopg.AsyncConnection:
        if self._idle:
            self._close_one_stale()
        if self._idle:
            return self._idle.pop()[0]
        if self._connect_failed_lately():
            raise Unavailable
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
            if conn is not None:
                _finish(conn)
            if isinstance(error, psycopg.Error | _TooFewSlots):
                self._failed_at = time.monotonic()
                logger.warning("loop connection refused: %s", type(error).__name__)
                raise Unavailable from None
            raise

    def _give_back(self, conn: psycopg.AsyncConnection, sound: bool) -> None:
        """Keep ``conn`` for the next batch if it is idle and sound.

        A batch cancelled half way (the process stopping) leaves the
        connection busy: it is closed, not reused.
        """
        idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        if sound and idle and not conn.closed and not conn.broken:
            self._idle.append((conn, time.monotonic()))
            return
        _finish(conn)

    def _close_one_stale(self) -> None:
        conn, since = self._idle[0]
        if time.monotonic() - since > self.max_idle_seconds:
            del self._idle[0]
            _finish(conn)

    def close_idle(self) -> int:
        """Close the idle connections (tests, before their database goes)."""
        closed = len(self._idle)
        for conn, _since in self._idle:
            _finish(conn)
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
