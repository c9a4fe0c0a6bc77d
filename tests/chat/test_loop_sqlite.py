"""The event loop's own writes on SQLite (``realtime/loop_sqlite.py``).

A message is stored by the loop in one short transaction, between two
calls of the writer thread; a taken lock is waited for a little, then
left to the thread, which waits its turn. Every other socket test of
this suite goes through the same path on SQLite; these look at what
only it decides. PostgreSQL's loop writes are tested in
tests/integration/test_pg_one_statement.py.
"""

import asyncio
import sqlite3
import time
import uuid

import pytest

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection, transaction

from chat.models import Conversation, Message
from realtime import frames, loop_sqlite
from realtime.loopdb import Unavailable
from tests.chat.test_delivery import claimed_conversation
from tests.factories import make_conversation
from tests.helpers import receive_until
from tests.marks import SOCKET_TESTS

pytestmark = [
    *SOCKET_TESTS,
    pytest.mark.skipif(
        "sqlite" not in settings.DATABASES["default"]["ENGINE"],
        reason="SQLITE ONLY: the loop's SQLite writes need a SQLite database",
    ),
]


@pytest.fixture
def thread_writes(monkeypatch):
    """The messages the sockets stored through a database thread."""
    from console import consumers as console_consumers
    from visitor import consumers as visitor_consumers

    calls = []
    for module, name in (
        (visitor_consumers, "check_send_message"),
        (console_consumers, "check_send_staff_message"),
    ):
        original = getattr(module, name)

        def recording(*args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, recording)
    return calls


def database_file() -> str:
    return connection.settings_dict["NAME"]


def lock_held_for(seconds: float) -> sqlite3.Connection:
    """Another connection holding SQLite's write lock, freed after ``seconds``."""
    other = sqlite3.connect(database_file(), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    asyncio.get_running_loop().call_later(seconds, other.execute, "COMMIT")
    return other


def row(conversation_id):
    return Conversation.objects.values(
        "last_seq", "visitor_messages", "staff_messages", "first_staff_reply_at"
    ).get(id=conversation_id)


def stored(conversation_id):
    return list(
        Message.objects.filter(conversation_id=conversation_id)
        .order_by("seq")
        .values_list("seq", "sender")
    )


async def say(communicator, text, conversation_id=None, client_id=None):
    frame = {"type": "message", "id": client_id or str(uuid.uuid4()), "text": text}
    if conversation_id is not None:
        frame["conversation"] = conversation_id
    await communicator.send_json_to(frame)
    return await receive_until(communicator, "ack")


async def test_messages_both_ways_are_stored_by_the_loop_not_a_thread(
    national, thread_writes
):
    visitor, operator, conversation_id = await claimed_conversation(national)
    assert (await say(visitor, "bonjour"))["seq"] == 1
    assert (await receive_until(operator, "message"))["text"] == "bonjour"
    assert (await say(operator, "je vous écoute", conversation_id))["seq"] == 2
    reply = await receive_until(visitor, "message")
    assert (reply["seq"], reply["from"]) == (2, "operator")
    assert thread_writes == []
    counts = await database_sync_to_async(row)(conversation_id)
    assert counts["last_seq"] == 2
    assert (counts["visitor_messages"], counts["staff_messages"]) == (1, 1)
    assert counts["first_staff_reply_at"] is not None
    assert await database_sync_to_async(stored)(conversation_id) == [
        (1, "visitor"),
        (2, "operator"),
    ]
    await visitor.disconnect()
    await operator.disconnect()


async def test_a_resend_is_acked_with_its_seq_and_stored_once(national, thread_writes):
    visitor, operator, conversation_id = await claimed_conversation(national)
    client_id = str(uuid.uuid4())
    assert (await say(visitor, "une fois", client_id=client_id))["seq"] == 1
    # The loop's insert finds the client id and rolls its seq back; the
    # thread's usual path answers with the stored message.
    assert (await say(visitor, "une fois", client_id=client_id))["seq"] == 1
    assert thread_writes == ["check_send_message"]
    assert (await say(visitor, "deux"))["seq"] == 2
    assert (await database_sync_to_async(row)(conversation_id))["last_seq"] == 2
    assert len(await database_sync_to_async(stored)(conversation_id)) == 2
    await visitor.disconnect()
    await operator.disconnect()


async def test_a_closed_conversation_stores_nothing(national, thread_writes):
    visitor, operator, conversation_id = await claimed_conversation(national)
    await database_sync_to_async(
        Conversation.objects.filter(id=conversation_id).update
    )(status=Conversation.Status.CLOSED)
    await visitor.send_json_to(
        {"type": "message", "id": str(uuid.uuid4()), "text": "?"}
    )
    error = await receive_until(visitor, "error")
    assert error["code"] == "bad_state"
    assert thread_writes == ["check_send_message"]
    assert (await database_sync_to_async(row)(conversation_id))["last_seq"] == 0
    await visitor.disconnect()
    await operator.disconnect()


async def test_the_writer_threads_transaction_is_waited_for_not_fallen_back_on(
    national, thread_writes
):
    visitor, operator, conversation_id = await claimed_conversation(national)

    def hold_the_lock():
        with transaction.atomic():
            Conversation.objects.filter(id=conversation_id).update(abusive=False)
            time.sleep(0.05)

    holder = asyncio.ensure_future(frames.db(hold_the_lock)())
    await asyncio.sleep(0.01)  # the thread is inside its transaction
    assert (await say(visitor, "après vous"))["seq"] == 1
    await holder
    assert thread_writes == []
    await visitor.disconnect()
    await operator.disconnect()


async def test_a_lock_held_elsewhere_is_left_to_the_thread_which_waits(
    national, thread_writes
):
    visitor, operator, conversation_id = await claimed_conversation(national)
    other = lock_held_for(0.3)
    started = time.monotonic()
    ack = await say(visitor, "patience")
    assert ack["seq"] == 1
    assert time.monotonic() - started >= 0.25
    # The loop tried, then left it to the thread, which stored it once.
    assert thread_writes == ["check_send_message"]
    assert await database_sync_to_async(stored)(conversation_id) == [(1, "visitor")]
    other.close()
    await visitor.disconnect()
    await operator.disconnect()


async def test_a_lock_freed_within_the_tries_is_written_by_the_loop(
    national, thread_writes
):
    visitor, operator, _conversation_id = await claimed_conversation(national)
    other = lock_held_for(loop_sqlite.BUSY_WAIT_SECONDS)
    assert (await say(visitor, "presque"))["seq"] == 1
    assert thread_writes == []
    other.close()
    await visitor.disconnect()
    await operator.disconnect()


async def test_a_failed_write_rolls_back_and_the_connection_goes_on(db):
    writer = loop_sqlite.LoopSqlite()

    def bad(cursor):
        cursor.execute("UPDATE chat_conversation SET last_seq = last_seq + 1")
        cursor.execute("SELECT * FROM no_such_table")
        return 1

    with pytest.raises(Unavailable):
        await writer.run(bad)
    assert writer._local.conn.in_transaction is False

    def count(cursor):
        return cursor.execute("SELECT count(*) FROM chat_conversation").fetchone()

    assert await writer.run(count) == (0,)
    writer.close()


async def test_none_rolls_back(national):
    conversation, _token = await database_sync_to_async(make_conversation)(national)
    conversation_id = conversation.id
    writer = loop_sqlite.LoopSqlite()

    def take_and_refuse(cursor):
        cursor.execute("UPDATE chat_conversation SET last_seq = 7")
        return None

    assert await writer.run(take_and_refuse) is None
    assert (await database_sync_to_async(row)(conversation_id))["last_seq"] == 0
    writer.close()


async def test_the_log_is_checkpointed_by_the_writer_thread(db, monkeypatch):
    answers = []
    original = loop_sqlite.checkpoint

    def recording():
        answers.append(original())
        return answers[-1]

    monkeypatch.setattr(loop_sqlite, "checkpoint", recording)
    writer = loop_sqlite.LoopSqlite(checkpoint_every=4)

    def touch(cursor):
        cursor.execute("UPDATE chat_conversation SET last_seq = last_seq")
        return True

    for _ in range(4):
        await writer.run(touch)
    await writer._checkpoint
    # SQLite's answer: not busy, and every page of the log copied.
    busy, in_log, copied = answers[0]
    assert busy == 0 and in_log == copied
    for _ in range(3):
        await writer.run(touch)
    assert len(answers) == 1  # every fourth commit only
    writer.close()


def test_a_checkpoint_waits_for_a_long_reader_only_briefly(db):
    """A reader on an old snapshot does not hold writers back for long."""
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        (usual,) = cursor.fetchone()
    reader = sqlite3.connect(database_file(), isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM chat_conversation").fetchone()
    make_conversation()  # a write after the reader's snapshot
    started = time.monotonic()
    busy, in_log, copied = loop_sqlite.checkpoint()
    waited = time.monotonic() - started
    reader.execute("COMMIT")
    reader.close()
    # The reader kept the log from restarting; the checkpoint gave up
    # after its short wait instead of the connection's 20 s.
    assert busy == 1 and copied <= in_log
    assert waited < 2
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone() == (usual,)
    assert loop_sqlite.checkpoint()[0] == 0  # reader gone: it restarts
