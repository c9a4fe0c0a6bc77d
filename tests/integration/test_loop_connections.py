"""The event loop's own PostgreSQL connections (``realtime/loopdb.py``).

A message whose seq its socket guessed right is stored by one statement
that the event loop sends itself (issue 14). These tests hold the pool to
its promises on a real PostgreSQL: nothing waits for a connection, a
broken or cancelled one is never reused, a database that is down is not
retried on every message; and across two real Daphne processes, messages
keep arriving, in order and complete, while the loops' connections are
killed under them.
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


def backend_pid(row: tuple | None) -> int:
    assert row is not None
    return row[0]


async def test_statements_reuse_a_connection(pool):
    first = backend_pid(await pool.fetch_one("SELECT pg_backend_pid()", []))
    second = backend_pid(await pool.fetch_one("SELECT pg_backend_pid()", []))

    assert first == second
    assert await pool.fetch_one("SELECT 1 WHERE false", []) is None


async def test_past_its_size_the_pool_refuses_at_once(pool):
    slow = [
        asyncio.ensure_future(pool.fetch_one("SELECT pg_sleep(0.5), 1", []))
        for _ in range(2)
    ]
    await asyncio.sleep(0.1)

    started = time.monotonic()
    with pytest.raises(loopdb.Unavailable):
        await pool.fetch_one("SELECT 1", [])
    assert time.monotonic() - started < 0.05
    assert [row[1] for row in await asyncio.gather(*slow)] == [1, 1]
    # Both came back: the next statement has a connection again.
    assert await pool.fetch_one("SELECT 1", []) == (1,)


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


async def test_a_cancelled_statement_does_not_give_its_connection_back(pool):
    pid = backend_pid(await pool.fetch_one("SELECT pg_backend_pid()", []))
    task = asyncio.ensure_future(pool.fetch_one("SELECT pg_sleep(5)", []))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    # The connection was busy with the cancelled statement: it is closed,
    # and the next statement runs on a new one, at once.
    started = time.monotonic()
    assert backend_pid(await pool.fetch_one("SELECT pg_backend_pid()", [])) != pid
    assert time.monotonic() - started < 1.0


async def test_idle_connections_are_closed_after_a_while(database_url):
    pool = loopdb.LoopConnections(
        lambda: {"conninfo": libpq_conninfo(database_url)},
        max_size=2,
        max_idle_seconds=0.2,
    )
    burst = await asyncio.gather(
        pool.fetch_one("SELECT pg_backend_pid(), pg_sleep(0.1)", []),
        pool.fetch_one("SELECT pg_backend_pid(), pg_sleep(0.1)", []),
    )
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
