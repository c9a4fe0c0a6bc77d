"""A message in one statement on PostgreSQL, when its seq is guessed right.

``chat.services.messages._store_expected``: the sockets pass the seq they
expect a message to take; a right guess stores it with one statement and
no transaction, anything else stores nothing and takes the usual path.
Run by the Django worker on the real database, which reports the
statements each write took (issue 14).
"""

import threading
import uuid

import psycopg
import pytest

from tests.integration.processes import libpq_conninfo

pytestmark = pytest.mark.integration


def new_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def conversation(seed, make_team):
    team = make_team(2)
    created = seed.call("conversation", slug=team.service)["conversation"]
    return created, team


def one_statement(writes: list[str]) -> bool:
    return len(writes) == 1 and writes[0].startswith("WITH taken AS")


def test_a_right_guess_stores_the_message_in_one_statement(seed, rows, conversation):
    conversation_id, _team = conversation
    first = seed.call(
        "send", conversation=conversation_id, client_id=new_id(), expect_seq=1
    )
    second = seed.call(
        "send", conversation=conversation_id, client_id=new_id(), expect_seq=2
    )

    assert (first["seq"], first["created"]) == (1, True)
    assert (second["seq"], second["created"]) == (2, True)
    assert one_statement(first["writes"]) and one_statement(second["writes"])
    assert [m["seq"] for m in rows.messages(conversation_id)] == [1, 2]
    row = rows.conversation(conversation_id)
    assert (row["last_seq"], row["visitor_messages"]) == (2, 2)


@pytest.mark.parametrize("guess", [1, 3])
def test_a_wrong_guess_changes_nothing_and_the_usual_path_stores_it(
    seed, rows, conversation, guess
):
    conversation_id, _team = conversation
    seed.call("send", conversation=conversation_id, client_id=new_id(), expect_seq=1)

    result = seed.call(
        "send", conversation=conversation_id, client_id=new_id(), expect_seq=guess
    )

    assert (result["seq"], result["created"]) == (2, True)
    # The guess, then the usual transaction.
    assert [sql.split()[0] for sql in result["writes"]] == [
        "WITH",
        "BEGIN",
        "UPDATE",
        "INSERT",
        "COMMIT",
    ]
    assert [m["seq"] for m in rows.messages(conversation_id)] == [1, 2]
    row = rows.conversation(conversation_id)
    assert (row["last_seq"], row["visitor_messages"]) == (2, 2)


def test_the_loop_guesses_again_after_a_wrong_guess(seed, rows, conversation):
    """From the event loop, a wrong guess is tried again with the seq the
    statement saw, without a transaction; the seq stays gapless."""
    conversation_id, _team = conversation
    seed.call("send", conversation=conversation_id, client_id=new_id(), expect_seq=1)
    right = seed.call(
        "send_in_loop", conversation=conversation_id, client_id=new_id(), expect_seq=2
    )
    assert (right["seq"], right["statements"]) == (2, 1)

    for guess in (1, 9):
        stale = seed.call(
            "send_in_loop",
            conversation=conversation_id,
            client_id=new_id(),
            expect_seq=guess,
        )
        assert stale["statements"] == 2
    assert [m["seq"] for m in rows.messages(conversation_id)] == [1, 2, 3, 4]
    row = rows.conversation(conversation_id)
    assert (row["last_seq"], row["visitor_messages"]) == (4, 4)


def test_the_loop_leaves_a_resend_or_a_closed_conversation_to_the_usual_path(
    seed, rows, conversation
):
    conversation_id, _team = conversation
    key = new_id()
    seed.call("send", conversation=conversation_id, client_id=key, expect_seq=1)
    resend = seed.call(
        "send_in_loop", conversation=conversation_id, client_id=key, expect_seq=1
    )
    assert resend == {"seq": None, "statements": 2}
    seed.call("close", conversation=conversation_id)
    closed = seed.call(
        "send_in_loop", conversation=conversation_id, client_id=new_id(), expect_seq=2
    )
    assert closed == {"seq": None, "statements": 1}
    assert [m["seq"] for m in rows.messages(conversation_id)] == [1]
    assert rows.conversation(conversation_id)["last_seq"] == 1


def test_a_resend_is_answered_with_the_stored_message(seed, rows, conversation):
    conversation_id, _team = conversation
    key = new_id()
    seed.call("send", conversation=conversation_id, client_id=key, expect_seq=1)

    again = seed.call("send", conversation=conversation_id, client_id=key, expect_seq=2)

    assert (again["seq"], again["created"]) == (1, False)
    assert [m["seq"] for m in rows.messages(conversation_id)] == [1]
    row = rows.conversation(conversation_id)
    assert (row["last_seq"], row["visitor_messages"]) == (1, 1)


def test_a_twin_committed_during_the_statement_leaves_no_gap(
    seed, rows, conversation, database_url
):
    """The twin is not visible when the statement starts: its UPDATE takes
    seq 2, then its INSERT waits on the client id's index and fails when
    the twin commits. The whole statement rolls back, seq 2 included."""
    conversation_id, _team = conversation
    seed.call("send", conversation=conversation_id, client_id=new_id(), expect_seq=1)
    key = new_id()
    results: list[dict] = []
    with psycopg.connect(libpq_conninfo(database_url)) as twin:
        twin.execute(
            "INSERT INTO chat_message (conversation_id, seq, sender, author_name,"
            " client_id, ciphertext, created_at)"
            " VALUES (%s, 1000, 'visitor', '', %s, '\\x00', now())",
            (conversation_id, key),
        )
        sender = threading.Thread(
            target=lambda: results.append(
                seed.call(
                    "send", conversation=conversation_id, client_id=key, expect_seq=2
                )
            )
        )
        sender.start()
        sender.join(timeout=1.0)
        assert sender.is_alive(), "the statement did not wait for the twin"
        twin.commit()
    sender.join(timeout=30)

    (result,) = results
    assert (result["seq"], result["created"]) == (1000, False)
    assert result["writes"][0].startswith("WITH taken AS")
    row = rows.conversation(conversation_id)
    assert (row["last_seq"], row["visitor_messages"]) == (1, 1)
    assert [m["seq"] for m in rows.messages(conversation_id)] == [1, 1000]


def access_version(rows, user_id: int) -> int:
    return rows.connection.execute(
        "SELECT version FROM console_accessstamp WHERE user_id = %s", (user_id,)
    ).fetchone()["version"]


def test_the_operator_in_charge_writes_in_one_statement_under_a_held_grant(
    seed, rows, conversation
):
    conversation_id, team = conversation
    operator, colleague = team.operators
    seed.call("claim", conversation=conversation_id, user_id=operator.user_id)
    version = access_version(rows, operator.user_id)

    def send_as(user_id: int, version: int, expect_seq: int) -> dict:
        return seed.call(
            "send",
            conversation=conversation_id,
            client_id=new_id(),
            expect_seq=expect_seq,
            operator=user_id,
            grant_version=version,
        )

    stored = send_as(operator.user_id, version, 1)
    stale = send_as(operator.user_id, version - 1, 2)
    not_in_charge = send_as(
        colleague.user_id, access_version(rows, colleague.user_id), 2
    )

    assert (stored["seq"], stored["created"]) == (1, True)
    assert one_statement(stored["writes"])
    # Refused by the statement itself, with nothing stored: the socket then
    # takes the full path, which re-checks the account in a transaction.
    assert stale["seq"] is None and one_statement(stale["writes"])
    assert not_in_charge["seq"] is None and one_statement(not_in_charge["writes"])
    assert [m["seq"] for m in rows.messages(conversation_id)] == [1]
    row = rows.conversation(conversation_id)
    assert (row["last_seq"], row["staff_messages"]) == (1, 1)
    assert row["first_staff_reply_at"] is not None


def test_the_message_statement_is_prepared_once_it_has_run_five_times(
    seed, conversation
):
    """psycopg prepares a statement its connection ran five times, but only
    with ``prepare_threshold`` given: Django turns it off otherwise, and
    PostgreSQL then parsed and planned every message's statement."""
    conversation_id, _team = conversation
    for seq in range(1, 7):
        sent = seed.call(
            "send", conversation=conversation_id, client_id=new_id(), expect_seq=seq
        )
        assert one_statement(sent["writes"])

    prepared = seed.call("prepared")["statements"]

    assert any(statement.startswith("WITH taken AS") for statement in prepared)


def test_a_conversations_messages_are_found_through_the_seq_index(rows):
    """No index of its own on the message's conversation: the unique
    (conversation, seq) one serves (chat migration 0007)."""
    connection = rows.connection
    connection.execute("SET enable_seqscan = off")
    try:
        plan = connection.execute(
            "EXPLAIN SELECT id FROM chat_message WHERE conversation_id = %s",
            (new_id(),),
        ).fetchall()
    finally:
        connection.execute("RESET enable_seqscan")
    assert "message_seq_unique" in "\n".join(row["QUERY PLAN"] for row in plan)
