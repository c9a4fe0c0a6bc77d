"""The event loop's own PostgreSQL connections (``realtime/loopdb.py``).

A message whose seq its socket guessed right is stored by one statement
that the event loop sends itself, with the others that came meanwhile in
one transaction (issue 14). These tests hold the pool to its promises on
a real PostgreSQL: a batch is one transaction, sent in its statements'
order so that two batches cannot deadlock, and rolled back whole when one
statement fails; a broken connection is never reused; a caller cancelled
in time takes its statement out; a database that is down is not retried
on every message; and across two real Daphne processes, messages keep
arriving, in order and complete, while the loops' connections are killed
under them.
"""

import asyncio
import time
import uuid

import psycopg
import pytest

from realtime import loopdb
from tests.integration.client import claimed_pair, eventually
from tests.integration.processes import libpq_conninfo

pytestmark = pytest.mark.integration


@pytest.fixture
def pool(database_url):
    connections = loopdb.LoopConnections(
        lambda: {"conninfo": libpq_conninfo(database_url)}, max_size=2
    )
    yield connections
    connections.close_idle()


@pytest.fixture
def probe(database_url):
    """A table of two rows, and a sequence, for statements to leave traces."""
    conninfo = libpq_conninfo(database_url)
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute(
            "CREATE TABLE loop_probe (id int PRIMARY KEY, n int);"
            " INSERT INTO loop_probe VALUES (1, 0), (2, 0);"
            " CREATE SEQUENCE loop_probe_seq"
        )
    yield
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute("DROP TABLE loop_probe; DROP SEQUENCE loop_probe_seq")


def backend_pid(row: tuple | None) -> int:
    assert row is not None
    return row[0]


async def test_statements_reuse_a_connection(pool):
    first = backend_pid(await pool.fetch_one("SELECT pg_backend_pid()", []))
    second = backend_pid(await pool.fetch_one("SELECT pg_backend_pid()", []))

    assert first == second
    assert await pool.fetch_one("SELECT 1 WHERE false", []) is None


async def test_statements_that_come_meanwhile_leave_together_in_one_transaction(
    database_url,
):
    pool = loopdb.LoopConnections(
        lambda: {"conninfo": libpq_conninfo(database_url)}, max_size=1
    )
    slow = asyncio.ensure_future(pool.fetch_one("SELECT pg_sleep(0.3), 1", []))
    await asyncio.sleep(0.1)

    # The one connection is busy: these three wait for it, then leave as
    # one batch, one transaction.
    waiting = [pool.fetch_one("SELECT txid_current()", []) for _ in range(3)]
    rows = await asyncio.gather(*waiting)
    assert slow.done()
    assert len(set(rows)) == 1
    assert pool.close_idle() == 1


async def test_a_batch_sends_its_statements_in_their_order(pool, probe):
    slow = asyncio.ensure_future(pool.fetch_one("SELECT pg_sleep(0.2)", []))
    await asyncio.sleep(0.05)
    # ``pool`` has two connections: the second takes whatever comes while
    # it connects, sorted.
    taken = await asyncio.gather(
        *(
            pool.fetch_one("SELECT %s, nextval('loop_probe_seq')", [name], order=name)
            for name in ("c", "a", "b")
        )
    )
    await slow
    assert sorted(taken, key=lambda row: row[1]) == [
        ("a", 1),
        ("b", 2),
        ("c", 3),
    ]


async def test_two_batches_lock_rows_in_the_same_order(database_url, probe):
    """Two processes' batches that update the same rows cannot deadlock:
    each sends its statements sorted by their ``order`` (a conversation's
    id), so the second waits for the first instead."""
    pools = [
        loopdb.LoopConnections(
            lambda: {"conninfo": libpq_conninfo(database_url)}, max_size=1
        )
        for _ in range(2)
    ]
    # Each statement holds its row's lock, then dawdles while holding it.
    update = (
        "WITH updated AS (UPDATE loop_probe SET n = n + 1 WHERE id = %s"
        " RETURNING id) SELECT id, pg_sleep(0.2) FROM updated"
    )
    started = time.monotonic()
    rows = await asyncio.gather(
        pools[0].fetch_one(update, [2], order="2"),
        pools[0].fetch_one(update, [1], order="1"),
        pools[1].fetch_one(update, [1], order="1"),
        pools[1].fetch_one(update, [2], order="2"),
    )
    # Unsorted, each batch would hold one row and wait for the other's,
    # until PostgreSQL's deadlock_timeout (1 s) broke one of them.
    assert [row[0] for row in rows] == [2, 1, 1, 2]
    assert time.monotonic() - started < 1.0
    for each in pools:
        each.close_idle()


async def test_a_failed_statement_rolls_its_whole_batch_back(pool, probe):
    slow = asyncio.ensure_future(pool.fetch_one("SELECT pg_sleep(0.2)", []))
    await asyncio.sleep(0.05)
    rows = await asyncio.gather(
        pool.fetch_one("INSERT INTO loop_probe VALUES (10, 0) RETURNING id", []),
        pool.fetch_one("SELECT 1 / 0", []),
        pool.fetch_one("INSERT INTO loop_probe VALUES (11, 0) RETURNING id", []),
    )
    await slow

    # Nothing of the batch is stored, and every caller hears "nothing".
    assert rows == [None, None, None]
    assert await pool.fetch_one("SELECT count(*) FROM loop_probe", []) == (2,)


async def test_a_failed_statement_answers_none_and_keeps_its_connection(pool):
    pid = backend_pid(await pool.fetch_one("SELECT pg_backend_pid()", []))

    assert await pool.fetch_one("SELECT 1 / 0", []) is None
    assert backend_pid(await pool.fetch_one("SELECT pg_backend_pid()", [])) == pid


async def test_a_killed_connection_is_replaced(pool, database_url):
    pid = backend_pid(await pool.fetch_one("SELECT pg_backend_pid()", []))
    with psycopg.connect(libpq_conninfo(database_url), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    # The statement on the dead connection fails (its caller's usual path
    # decides); the next one gets a new connection.
    assert await pool.fetch_one("SELECT pg_backend_pid()", []) is None
    assert backend_pid(await pool.fetch_one("SELECT pg_backend_pid()", [])) != pid


async def test_a_cancelled_caller_leaves_a_sent_statement_to_finish(pool):
    pid = backend_pid(await pool.fetch_one("SELECT pg_backend_pid()", []))
    task = asyncio.ensure_future(
        pool.fetch_one("SELECT pg_backend_pid(), pg_sleep(0.3)", [])
    )
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    # Its caller gone, the statement still runs to its end: its
    # connection is sound and serves the next batch.
    await asyncio.sleep(0.3)
    assert backend_pid(await pool.fetch_one("SELECT pg_backend_pid()", [])) == pid


async def test_a_caller_cancelled_before_its_batch_leaves_takes_its_statement_out(
    database_url, probe
):
    pool = loopdb.LoopConnections(
        lambda: {"conninfo": libpq_conninfo(database_url)}, max_size=1
    )
    slow = asyncio.ensure_future(pool.fetch_one("SELECT pg_sleep(0.2)", []))
    await asyncio.sleep(0.05)
    queued = asyncio.ensure_future(
        pool.fetch_one("INSERT INTO loop_probe VALUES (10, 0) RETURNING id", [])
    )
    await asyncio.sleep(0.05)
    queued.cancel()
    await slow

    assert await pool.fetch_one("SELECT count(*) FROM loop_probe", []) == (2,)
    pool.close_idle()


async def test_idle_connections_are_closed_after_a_while(database_url):
    pool = loopdb.LoopConnections(
        lambda: {"conninfo": libpq_conninfo(database_url)},
        max_size=2,
        max_idle_seconds=0.2,
    )
    # The second comes once the first is sent: a batch of its own, on a
    # second connection.
    first = asyncio.ensure_future(
        pool.fetch_one("SELECT pg_backend_pid(), pg_sleep(0.1)", [])
    )
    await asyncio.sleep(0.05)
    burst = [
        await pool.fetch_one("SELECT pg_backend_pid(), pg_sleep(0.1)", []),
        await first,
    ]
    assert len({backend_pid(row) for row in burst}) == 2
    await asyncio.sleep(0.3)

    # Two idle for too long: one is closed at each statement.
    await pool.fetch_one("SELECT 1", [])
    await pool.fetch_one("SELECT 1", [])
    assert pool.close_idle() == 1


async def test_a_database_that_is_down_is_not_retried_at_every_statement():
    # A port nobody listens on.
    pool = loopdb.LoopConnections(
        lambda: {"conninfo": "host=127.0.0.1 port=9 user=nobody connect_timeout=2"},
        max_size=2,
    )
    with pytest.raises(loopdb.Unavailable):
        await pool.fetch_one("SELECT 1", [])

    started = time.monotonic()
    for _ in range(100):
        with pytest.raises(loopdb.Unavailable):
            await pool.fetch_one("SELECT 1", [])
    assert time.monotonic() - started < 0.05


def loop_backends(database_url: str) -> list[int]:
    with psycopg.connect(libpq_conninfo(database_url), autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = %s",
            (loopdb.APPLICATION_NAME,),
        ).fetchall()
    return [pid for (pid,) in rows]


def kill(database_url: str, pids: list[int]) -> None:
    with psycopg.connect(libpq_conninfo(database_url), autocommit=True) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


async def test_messages_survive_the_loops_connections_being_killed(
    servers, rows, make_team, clients, database_url
):
    visitor, staff, conversation = await claimed_pair(clients, *servers, make_team(1))

    async def exchange(first: int) -> None:
        for n in range(first, first + 5):
            await visitor.send_message(f"visiteur {n}")
            await staff.send_message(f"écoutante {n}", conversation)
            await asyncio.sleep(0.02)

    def delivered(count: int) -> bool:
        return (
            not visitor.outbox
            and not staff.outbox
            and len(visitor.view().others) == count
            and len(staff.view(conversation).others) == count
        )

    await exchange(1)
    await eventually(lambda: delivered(5), timeout=10, message="first five")
    # The messages went through the loops' own connections.
    killed = loop_backends(database_url)
    assert killed

    kill(database_url, killed)
    await exchange(6)
    await eventually(lambda: delivered(10), timeout=10, message="after the kill")

    # Every message once, under a gapless seq, and each side got the
    # other's ten, with no hole in what it knows.
    stored = rows.messages(conversation)
    assert [message["seq"] for message in stored] == list(range(1, 21))
    assert len({message["client_id"] for message in stored}) == 20
    texts = [
        visitor.view().others[seq]["text"] for seq in sorted(visitor.view().others)
    ]
    assert texts == [f"écoutante {n}" for n in range(1, 11)]
    assert visitor.view().contiguous() == staff.view(conversation).contiguous() == 20
    # New connections replaced the killed ones.
    assert set(loop_backends(database_url)).isdisjoint(killed)


async def test_a_closed_conversation_refuses_both_sides_messages(
    servers, rows, make_team, clients, database_url
):
    """The loop's statement holds the same conditions as the thread's: a
    closed conversation takes no message, from either side."""
    visitor, staff, conversation = await claimed_pair(clients, *servers, make_team(1))
    await visitor.send_message("avant")
    await staff.send_message("avant aussi", conversation)
    await eventually(
        lambda: not visitor.outbox and not staff.outbox, timeout=10, message="acks"
    )
    assert loop_backends(database_url)

    await staff.send(
        {"type": "close", "conversation": conversation, "outcome": "other"}
    )
    await eventually(
        lambda: rows.conversation(conversation)["status"] == "closed",
        timeout=10,
        message="closed",
    )
    mark = visitor.mark(), staff.mark()
    await visitor.send({"type": "message", "id": new_id(), "text": "après"})
    await staff.send(
        {
            "type": "message",
            "id": new_id(),
            "conversation": conversation,
            "text": "après aussi",
        }
    )

    refused = await visitor.expect(("error", "ack"), start=mark[0], timeout=10)
    assert refused["type"] == "error" and refused["code"] == "bad_state", refused
    refused = await staff.expect(
        ("error", "ack"),
        start=mark[1],
        timeout=10,
        where=lambda frame: frame.get("type") == "error" or "seq" in frame,
    )
    assert refused["type"] == "error", refused
    assert [message["seq"] for message in rows.messages(conversation)] == [1, 2]
    assert rows.conversation(conversation)["last_seq"] == 2


def new_id() -> str:
    return str(uuid.uuid4())


async def test_the_loop_leaves_postgresqls_last_connection_slots_to_others(
    database_url,
):
    """Django's threads must still connect when the loop is busy: a new
    loop connection that finds fewer than ``reserve`` slots left is closed
    at once, and the loop does not try again for a while."""
    conninfo = libpq_conninfo(database_url)
    with psycopg.connect(conninfo, autocommit=True) as admin:
        limit = admin.execute("SHOW max_connections").fetchone()[0]
    greedy = loopdb.LoopConnections(
        lambda: {"conninfo": conninfo, "application_name": "ecoute-loop-greedy"},
        max_size=2,
        reserve=int(limit),
    )
    modest = loopdb.LoopConnections(
        lambda: {"conninfo": conninfo}, max_size=2, reserve=1
    )

    with pytest.raises(loopdb.Unavailable):
        await greedy.fetch_one("SELECT 1", [])
    with pytest.raises(loopdb.Unavailable):
        await greedy.fetch_one("SELECT 1", [])
    with psycopg.connect(conninfo, autocommit=True) as admin:
        left_open = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            ("ecoute-loop-greedy",),
        ).fetchone()[0]
    assert left_open == 0
    assert await modest.fetch_one("SELECT 1", []) == (1,)
    modest.close_idle()
