"""Presence and grace periods decided from the database, across processes.

Timings (processes.TEST_TIMINGS): heartbeat 1 s, stale after 3 s, sweep
every 0.5 s, operator grace 3 s, visitor grace 4 s.
"""

import asyncio
import time

import pytest

from tests.integration.client import ProtocolClient, claimed_pair, eventually
from tests.integration.processes import TEST_TIMINGS

HEARTBEAT = float(TEST_TIMINGS["PRESENCE_HEARTBEAT_SECONDS"])
STALE = float(TEST_TIMINGS["PRESENCE_STALE_SECONDS"])
SWEEP = float(TEST_TIMINGS["SWEEP_INTERVAL_SECONDS"])
OPERATOR_GRACE = float(TEST_TIMINGS["OPERATOR_GRACE_SECONDS"])
VISITOR_GRACE = float(TEST_TIMINGS["VISITOR_GRACE_SECONDS"])
# Scheduling slack on a loaded two-core machine.
SLACK = 3.0


async def send_acked(sender: ProtocolClient, text: str, conversation: str) -> int:
    client_id = await sender.send_message(text, conversation)
    await eventually(lambda: client_id in sender.acks, timeout=5, message="no ack")
    return sender.acks[client_id]["seq"]


async def claimed_conversation(clients, visitor_server, staff_server, team):
    """A visitor, an operator on another process, and four messages between them."""
    visitor, staff, conversation = await claimed_pair(
        clients, visitor_server, staff_server, team
    )
    await visitor.expect("joined", name=team.operators[0].pseudonym, timeout=5)
    for number in (1, 2):
        # One at a time, so the seqs are known: 1 visitor, 2 operator, ...
        for sender, text in (
            (visitor, f"visiteur {number}"),
            (staff, f"écoutante {number}"),
        ):
            await send_acked(sender, text, conversation)
    await eventually(
        lambda: (
            len(visitor.view().others) == 2
            and len(staff.view(conversation).others) == 2
        ),
        timeout=5,
        message="the first four messages did not cross",
    )
    return visitor, staff


FIRST_FOUR = [
    (1, "visitor", "visiteur 1"),
    (2, "operator", "écoutante 1"),
    (3, "visitor", "visiteur 2"),
    (4, "operator", "écoutante 2"),
]


def history_of(rows, conversation):
    return [(row["seq"], row["sender"]) for row in rows.messages(conversation)]


@pytest.mark.integration
@pytest.mark.parametrize("drop", ["socket_abort", "sigkill"])
async def test_operator_drop_triggers_grace_then_requeue_across_processes(
    drop, servers, extra_servers, rows, make_team, clients
):
    a, b = servers
    if drop == "sigkill":
        # Killed below: a process of its own, so A and B serve later tests.
        (b,) = extra_servers("B-doomed")
    team = make_team(2)
    first, second = team.operators
    visitor, staff = await claimed_conversation(clients, a, b, team)
    conversation = visitor.conversation
    successor = clients.staff(a, second)
    hello = await successor.connect()
    assert hello["queue"] == []
    watch_left = visitor.mark()

    dropped_at = time.monotonic()
    if drop == "socket_abort":
        staff.abort()
        # The disconnect handler deletes the presence row: the next sweep.
        notice_within = SWEEP + SLACK
    else:
        staff.auto_reconnect = False
        b.kill()
        # No handler ran: the row must go stale first.
        notice_within = STALE + HEARTBEAT + SWEEP + SLACK

    try:
        left = await visitor.expect(
            "left", reconnecting=True, timeout=notice_within, start=watch_left
        )
    except AssertionError as error:
        raise AssertionError(
            f"{error}\noperator's sockets closed by the server before the drop: "
            f"{staff.closes[:-1]}; presence rows still counted as online: "
            f"{rows.connections(user_id=first.user_id)}"
        ) from None
    assert left == {
        "type": "left",
        "role": "operator",
        "name": first.pseudonym,
        "reconnecting": True,
        "grace_s": round(OPERATOR_GRACE),
    }
    row = rows.conversation(conversation)
    assert (row["status"], row["operator_id"]) == ("active", first.user_id)
    deadline = row["operator_grace_until"]
    assert deadline is not None

    # Not before the end of the grace (this machine's clock, as the sweep's)...
    await asyncio.sleep(max(0.0, (deadline - rows.now()).total_seconds() - 0.4))
    row = rows.conversation(conversation)
    assert (row["status"], row["operator_id"]) == ("active", first.user_id)

    # ...but after it: back at the head of the queue, for everyone.
    requeued = await visitor.expect(
        "left",
        timeout=OPERATOR_GRACE + SWEEP + SLACK,
        start=watch_left,
        where=lambda frame: not frame.get("reconnecting"),
    )
    assert requeued == {"type": "left", "role": "operator", "name": first.pseudonym}
    row = rows.conversation(conversation)
    assert (row["status"], row["operator_id"]) == ("waiting", None)
    assert row["operator_grace_until"] is None
    await successor.expect(
        "queue",
        timeout=5,
        where=lambda frame: (
            conversation in {item["conversation"] for item in frame["items"]}
        ),
    )

    assigned = await successor.claim(conversation)
    assert assigned["type"] == "assigned", assigned
    history = [
        (message["seq"], message["from"], message["text"])
        for message in assigned["conversation"]["history"]
    ]
    assert history == FIRST_FOUR
    assert history_of(rows, conversation) == [(seq, who) for seq, who, _ in FIRST_FOUR]
    await visitor.expect("joined", name=second.pseudonym, timeout=5, start=watch_left)

    # The new operator and the visitor, on one process now, still talk.
    await successor.send_message("je prends le relais", conversation)
    await eventually(
        lambda: 5 in visitor.view().others,
        timeout=5,
        message="no message from successor",
    )
    assert visitor.view().others[5]["text"] == "je prends le relais"
    assert visitor.view().others[5]["name"] == second.pseudonym
    assert not visitor.frames("error")
    assert time.monotonic() - dropped_at < 30


@pytest.mark.integration
async def test_operator_back_within_grace_keeps_the_conversation(
    servers, rows, make_team, clients
):
    a, b = servers
    team = make_team(1)
    (operator,) = team.operators
    visitor, staff = await claimed_conversation(clients, a, b, team)
    conversation = visitor.conversation
    watch = visitor.mark()

    staff.abort()
    await visitor.expect("left", reconnecting=True, timeout=SWEEP + SLACK, start=watch)
    deadline = rows.conversation(conversation)["operator_grace_until"]
    assert deadline is not None

    # Back within the grace, on the other process this time.
    watch_staff = staff.mark()
    await staff.reopen(a)
    hello = await staff.expect("hello", timeout=5, start=watch_staff)
    assert rows.now() < deadline, "the machine is too slow: reconnected after the grace"
    (mine,) = hello["conversations"]
    assert mine["id"] == conversation
    assert [(m["seq"], m["from"], m["text"]) for m in mine["history"]] == FIRST_FOUR
    await visitor.expect(
        "joined", name=operator.pseudonym, timeout=SWEEP + SLACK, start=watch
    )

    # Past the end of the grace: still theirs, never requeued.
    await asyncio.sleep(
        max(0.0, (deadline - rows.now()).total_seconds() + 2 * SWEEP + 0.5)
    )
    row = rows.conversation(conversation)
    assert (row["status"], row["operator_id"]) == ("active", operator.user_id)
    assert row["operator_grace_until"] is None
    assert [
        f for f in visitor.frames("left", start=watch) if not f.get("reconnecting")
    ] == []
    assert staff.frames("released") == []

    await staff.send_message("me revoilà", conversation)
    await eventually(
        lambda: 5 in visitor.view().others, timeout=5, message="no message"
    )
    await visitor.send_message("d'accord")
    await eventually(
        lambda: 6 in staff.view(conversation).others,
        timeout=5,
        message="no visitor message",
    )
    assert visitor.frames("error") == staff.frames("error") == []


@pytest.mark.integration
async def test_waiting_visitor_who_never_returns_is_abandoned(
    servers, rows, make_team, clients
):
    a, b = servers
    team = make_team(1)
    gone = clients.visitor(a, label="gone", reconnect=False)
    returning = clients.visitor(a, label="returning", reconnect=False)
    for visitor in (gone, returning):
        await visitor.connect()
        await visitor.start(service=team.service)
    gone_id, returning_id = gone.conversation, returning.conversation

    left_at = time.monotonic()
    await gone.close()
    await returning.close()

    # The grace has started for both...
    deadline = await eventually(
        lambda: rows.conversation(returning_id)["visitor_grace_until"],
        timeout=SWEEP + SLACK,
        message="no visitor grace started",
    )
    # ...and one comes back within it (``resume``), on the other process.
    watch = returning.mark()
    await returning.reopen(b)
    resumed = await returning.expect("resumed", timeout=5, start=watch)
    assert resumed["status"] == "waiting"
    assert rows.now() < deadline, "the machine is too slow: resumed after the grace"

    def abandoned() -> bool:
        return rows.conversation(gone_id)["status"] == "closed"

    await eventually(
        abandoned, timeout=VISITOR_GRACE + SWEEP + SLACK, message="never abandoned"
    )
    assert time.monotonic() - left_at >= VISITOR_GRACE - SWEEP
    row = rows.conversation(gone_id)
    assert row["outcome"] == "abandoned"
    assert row["closed_at"] is not None

    # Well past the grace, the visitor who came back still waits.
    await asyncio.sleep(
        max(0.0, (deadline - rows.now()).total_seconds() + 2 * SWEEP + 0.5)
    )
    row = rows.conversation(returning_id)
    assert (row["status"], row["outcome"]) == ("waiting", "")
    assert row["visitor_grace_until"] is None
    assert returning.frames("closed") == []
    console = clients.staff(a, team.operators[0])
    hello = await console.connect()
    assert [item["conversation"] for item in hello["queue"]] == [returning_id]


# Under the 16 KiB frame limit, nested deeper than json's recursion limit.
DEEPLY_NESTED_JSON = "[" * 5000 + "]" * 5000


@pytest.mark.integration
async def test_deeply_nested_json_is_refused_and_the_operator_stays(
    servers, rows, make_team, clients
):
    """A frame nested deeper than the parser's limit gets ``bad_json``.

    It used to kill the consumer, whose presence row then kept the
    vanished operator "online" (tests/chat/test_consumers.py covers the
    row of a consumer that dies for any reason).
    """
    a, b = servers
    team = make_team(1)
    (operator,) = team.operators
    visitor, staff = await claimed_conversation(clients, a, b, team)
    staff.auto_reconnect = False
    watch, watch_staff = visitor.mark(), staff.mark()
    assert staff.ws is not None
    await staff.ws.send(DEEPLY_NESTED_JSON)
    await eventually(
        lambda: staff.frames("error", start=watch_staff) or not staff.connected,
        timeout=5,
        message="the server neither answered nor closed the socket",
    )
    assert staff.connected
    assert staff.frames("error", start=watch_staff)[0]["code"] == "bad_json"
    await asyncio.sleep(STALE + HEARTBEAT + SWEEP)
    assert visitor.frames("left", start=watch) == []
    assert rows.connections(user_id=operator.user_id)
    row = rows.conversation(visitor.conversation)
    assert row["status"] == "active"
