"""The event loop's own SQLite connection, for a message's short write.

On SQLite (the demo) every write went through the process's one writer
thread. For a message, that cost more than the relay spent on the whole
message: the hop to the thread and back, Django's transaction and cursor
wrappers, and the thread winning the GIL back from a busy loop
(bench/README.md, "Thirteenth pass"). The write itself is two short
statements under SQLite's write lock, about a tenth of a millisecond, so
the loop runs it itself, on a connection of its own, in one IMMEDIATE
transaction (``run``).

The loop never blocks on a lock: the connection's busy timeout is zero.
It writes between two calls of the writer thread, whose transactions
hold the lock (``realtime.frames.writer_idle``), and when the lock is
taken all the same (a reader's transaction, another process) it tries
again a few milliseconds later, a few times, before it raises
``Unavailable`` and leaves the message to the writer thread. Falling back
at once was worse: each message sent to the thread made the thread hold
the lock longer, waiting for the GIL, and more messages found it taken.
Any other error rolls the transaction back and raises ``Unavailable``
too: the usual path is idempotent on the message's client id, and
decides.

Nor does the loop checkpoint: a checkpoint writes the database file and
syncs it to disk, several milliseconds that would stall every socket of
the process. The loop's connection has no automatic checkpoint; every
``CHECKPOINT_EVERY`` commits, a RESTART checkpoint runs in the writer
thread (``checkpoint``), which keeps the write-ahead log from growing
while the loop writes without pause. The writer thread's own commits
still checkpoint as SQLite does by default.

SQLite only. The connection is made as Django makes its own (its
parameters, foreign keys and ``init_command``), once per thread: an
event loop's connection is used by that loop's thread only.
"""

import asyncio
import functools
import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import TypeVar

from django.db import DEFAULT_DB_ALIAS, connection, connections

from realtime.frames import db, writer_idle
from realtime.loopdb import Unavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The lock taken by someone other than the writer thread: try again this
# many times in all, this long apart, then leave the write to the thread.
BUSY_TRIES = 5
BUSY_WAIT_SECONDS = 0.002
# About 4 MiB of log at a message's four pages: a checkpoint of a few
# milliseconds in the writer thread, twice a second at 600 messages/s.
CHECKPOINT_EVERY = 256
# How long a checkpoint waits for the log's readers, writers held back.
CHECKPOINT_WAIT_MS = 50


class _Busy(Unavailable):
    """The write lock is taken: try again shortly."""


class LoopSqlite:
    """One thread's SQLite connection for short write transactions."""

    def __init__(self, checkpoint_every: int = CHECKPOINT_EVERY) -> None:
        self.checkpoint_every = checkpoint_every
        self._local = threading.local()
        self._commits = 0
        self._checkpoint: asyncio.Task | None = None

    async def run(self, work: Callable[[sqlite3.Cursor], T | None]) -> T | None:
        """Run ``work`` in one IMMEDIATE transaction, from the event loop.

        Committed if ``work`` returns something, rolled back if it returns
        None. The transaction starts between two calls of the writer
        thread (``writer_idle``); if the lock is taken all the same (a
        reader's transaction, another process), it tries again
        ``BUSY_TRIES`` times, ``BUSY_WAIT_SECONDS`` apart. Raises
        ``Unavailable``, with nothing written, when the lock stayed taken
        or anything failed.
        """
        for _try in range(BUSY_TRIES - 1):
            await writer_idle()
            try:
                return self.run_now(work)
            except _Busy:
                await asyncio.sleep(BUSY_WAIT_SECONDS)
        # The last try: a lock still taken raises (``_Busy`` is an
        # ``Unavailable``), with no wait after it.
        await writer_idle()
        return self.run_now(work)

    def run_now(self, work: Callable[[sqlite3.Cursor], T | None]) -> T | None:
        """``run`` once, without waiting: raises ``_Busy`` (an
        ``Unavailable``) at once when the write lock is taken."""
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            if _is_busy(error):
                raise _Busy from None
            logger.warning("loop BEGIN failed: %s", type(error).__name__)
            self._drop()
            raise Unavailable from None
        try:
            cursor = conn.cursor()
            result = work(cursor)
            cursor.close()
            conn.execute("COMMIT" if result is not None else "ROLLBACK")
        except BaseException as error:
            # The message's text is in the parameters and a unique key's
            # values in the error: only the error's kind is logged.
            if isinstance(error, sqlite3.Error):
                logger.warning("loop write failed: %s", type(error).__name__)
            self._rollback(conn)
            if isinstance(error, sqlite3.Error):
                raise Unavailable from None
            raise
        if result is not None:
            self._committed()
        return result

    def close(self) -> None:
        """Close this thread's connection (tests, before their database goes)."""
        self._drop()

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # What Django's ``get_new_connection`` does, which refuses to
            # run in an event loop: the statements here use none of the
            # SQL functions it registers.
            wrapper = connections.create_connection(DEFAULT_DB_ALIAS)
            conn = sqlite3.connect(**wrapper.get_connection_params())
            conn.isolation_level = None  # BEGIN and COMMIT are ours.
            conn.execute("PRAGMA foreign_keys = ON")
            for command in wrapper.init_commands:
                if command.strip():
                    conn.execute(command)
            conn.execute("PRAGMA busy_timeout = 0")
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            self._local.conn = conn
        return conn

    def _rollback(self, conn: sqlite3.Connection) -> None:
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            self._drop()

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:
                logger.debug("closing the loop's SQLite connection failed")

    def _committed(self) -> None:
        self._commits += 1
        if self._commits % self.checkpoint_every:
            return
        if self._checkpoint is not None and not self._checkpoint.done():
            return
        self._checkpoint = asyncio.ensure_future(db(checkpoint)())


def checkpoint() -> tuple[int, int, int]:
    """Copy the write-ahead log into the database and start it again.

    Runs in the writer thread. RESTART blocks new writers while it waits
    for the log's readers to reach its end, so that the next write starts
    the log from its beginning; with the connection's own busy timeout
    (20 s), one long read (a statistics page, an export) would have
    stopped every write for as long. It waits at most
    ``CHECKPOINT_WAIT_MS`` instead, and when readers are still on the log
    copies what it can and leaves the restart to the next checkpoint.
    Returns SQLite's answer: busy, pages in the log, pages copied.
    """
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        (usual,) = cursor.fetchone()
        cursor.execute(f"PRAGMA busy_timeout = {CHECKPOINT_WAIT_MS:d}")
        try:
            cursor.execute("PRAGMA wal_checkpoint(RESTART)")
            return cursor.fetchone()
        finally:
            cursor.execute(f"PRAGMA busy_timeout = {int(usual):d}")


def _is_busy(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    # The primary code: SQLITE_BUSY_SNAPSHOT is a kind of SQLITE_BUSY.
    primary = code & 0xFF if code is not None else None
    return primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


_writer: LoopSqlite | None = None


def loop_sqlite() -> LoopSqlite:
    """The process's loop connection to SQLite (one per thread)."""
    global _writer
    if _writer is None:
        _writer = LoopSqlite()
    return _writer


def close_loop_sqlite() -> None:
    """Close this thread's loop connection to SQLite, if it has one."""
    if _writer is not None:
        _writer.close()


@functools.cache
def sql(statement: str) -> str:
    """A statement written with Django's ``%s`` placeholders, for sqlite3."""
    return statement.replace("%s", "?")
