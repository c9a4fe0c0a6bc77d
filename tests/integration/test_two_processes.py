"""Fan-out and the claim race across two Daphne processes.

The visitor and the operator sit on different processes, so every frame
one of them gets from the other went through the database and the shared
Redis, never through one process's memory.
"""

import asyncio
from collections import Counter

import pytest

from tests.integration.client import ProtocolClient, eventually

OTHER_TYPES_ALLOWED_AFTER_CLAIM = {"queue", "typing"}


@pytest.mark.integration
async def test_messages_cross_processes_both_ways(servers, rows, make_team, clients):
    a, b = servers
    operator = make_team(1, service="national").operators[0]

    # No service in ``start``: routing picks the default service from the
    # place; only this test uses it.
    visitor = clients.visitor(a, label="visitor@A")
    await visitor.connect()
    started = await visitor.start(place="33000", role="victim")
    assert started["service"] == "national"
    conversation = started["conversation"]

    staff = clients.staff(b, operator)
    hello = await staff.connect()
    assert conversation in {item["conversation"] for item in hello["queue"]}
    assigned = await staff.claim(conversation)
    assert assigned["type"] == "assigned", assigned
    assert assigned["conversation"]["id"] == conversation
    joined = await visitor.expect("joined", timeout=5)
    assert joined == {
        "type": "joined",
        "role": "operator",
        "name": operator.pseudonym,
    }

    visitor_start, staff_start = visitor.mark(), staff.mark()
    visitor_texts = [f"visiteur {n}" for n in range(1, 11)]
    staff_texts = [f"écoutante {n}" for n in range(1, 11)]

    async def visitor_side() -> None:
        for text in visitor_texts:
            await visitor.send_message(text)
            await asyncio.sleep(0.02)

    async def staff_side() -> None:
        for text in staff_texts:
            await staff.send_message(text, conversation)
            await asyncio.sleep(0.02)

    await asyncio.gather(visitor_side(), staff_side())

    def exchanged() -> bool:
        return (
            not visitor.outbox
            and not staff.outbox
            and len(visitor.view().others) == 10
            and len(staff.view(conversation).others) == 10
        )

    await eventually(
        exchanged,
        timeout=10,
        message=lambda: (
            f"visitor got {sorted(visitor.view().others)}, "
            f"outbox {len(visitor.outbox)}; "
            f"staff got {sorted(staff.view(conversation).others)}, "
            f"outbox {len(staff.outbox)}"
        ),
    )
    # Nothing else may arrive: wait a second and look again.
    await asyncio.sleep(1.0)

    visitor_seqs = {visitor.acks[i]["seq"] for i in visitor.sent}
    staff_seqs = {staff.acks[i]["seq"] for i in staff.sent}
    assert visitor_seqs | staff_seqs == set(range(1, 21))
    assert not visitor_seqs & staff_seqs

    for receiver, sender, expected_texts, sender_role in (
        (visitor, staff, staff_texts, "operator"),
        (staff, visitor, visitor_texts, "visitor"),
    ):
        start = visitor_start if receiver is visitor else staff_start
        sender_seqs = sorted(sender.acks[i]["seq"] for i in sender.sent)
        # The sender gets an ack, never a copy of its own message.
        echoed = [
            (item.frame["seq"], item.frame["text"]) for item in receiver.own_frames
        ]
        assert echoed == [], (
            f"{receiver.label} got its own message(s) back as message frames: "
            f"{echoed} (syncs it sent: {receiver.syncs})"
        )
        # Exactly the other side's messages, each once, in seq order. (A
        # ``sync`` after a seeming gap, e.g. an own ack arriving before an
        # earlier message of the other side, may legitimately repeat some.)
        view = receiver.view(conversation)
        assert sorted(view.others) == sender_seqs, receiver.label
        assert [view.others[seq]["text"] for seq in sender_seqs] == expected_texts
        assert {view.others[seq]["from"] for seq in sender_seqs} == {sender_role}
        first_seen = [seq for _conversation, seq in receiver.arrivals]
        assert first_seen == sorted(first_seen), (receiver.label, first_seen)
        assert receiver.duplicates == []
        assert not receiver.conflicts
        # No reconnect, no resend, one ack per message, no error.
        assert receiver.sockets == 1
        assert receiver.resends == 0
        assert set(receiver.ack_counts.values()) == {1}
        assert receiver.frames("error") == []
        assert receiver.sealed_violations == []
        others = {frame["type"] for frame in receiver.frames(start=start)}
        assert others <= {"message", "ack"} | OTHER_TYPES_ALLOWED_AFTER_CLAIM, others

    assert visitor.view().contiguous() == 20
    assert staff.view(conversation).contiguous() == 20
    staff_frames = staff.frames("message", start=staff_start)
    assert {frame["conversation"] for frame in staff_frames} == {conversation}
    names = {
        frame.get("name")
        for frame in visitor.frames("message")
        if frame["from"] != "visitor"
    }
    assert names == {staff.pseudonym}

    stored = rows.messages(conversation)
    assert [row["seq"] for row in stored] == list(range(1, 21))
    assert Counter(row["client_id"] for row in stored) == Counter(
        list(visitor.sent) + list(staff.sent)
    )
    assert rows.conversation(conversation)["last_seq"] == 20


@pytest.mark.integration
async def test_a_resend_is_acked_with_its_first_seq_and_changes_nothing(
    servers, rows, make_team, clients
):
    """On PostgreSQL, a message sent again with its id stores nothing.

    The operator in charge writes inside the transaction that checked the
    account, with no savepoint: the stored id is found by the insert
    itself and the seq it took is given back, counters included.
    """
    a, b = servers
    operator = make_team(1, service="national").operators[0]
    visitor = clients.visitor(a, label="visitor@A")
    await visitor.connect()
    conversation = (await visitor.start(service="national"))["conversation"]
    staff = clients.staff(b, operator)
    await staff.connect()
    assert (await staff.claim(conversation))["type"] == "assigned"
    staff_id = await staff.send_message("première réponse", conversation)
    visitor_id = await visitor.send_message("bonjour")
    await eventually(
        lambda: staff_id in staff.acks and visitor_id in visitor.acks,
        timeout=10,
        message=lambda: f"acks: staff {list(staff.acks)}, visitor {list(visitor.acks)}",
    )
    first = {
        staff_id: staff.acks[staff_id]["seq"],
        visitor_id: visitor.acks[visitor_id]["seq"],
    }
    before = rows.conversation(conversation)

    visitor_mark, staff_mark = visitor.mark(), staff.mark()
    await visitor.send({"type": "message", "id": visitor_id, "text": "bonjour"})
    await staff.send(
        {
            "type": "message",
            "id": staff_id,
            "text": "première réponse",
            "conversation": conversation,
        }
    )
    visitor_ack = await visitor.expect("ack", id=visitor_id, start=visitor_mark)
    staff_ack = await staff.expect("ack", id=staff_id, start=staff_mark)
    assert visitor_ack["seq"] == first[visitor_id]
    assert staff_ack["seq"] == first[staff_id]

    after = rows.conversation(conversation)
    for column in (
        "last_seq",
        "visitor_messages",
        "staff_messages",
        "first_staff_reply_at",
    ):
        assert after[column] == before[column], column
    assert [row["seq"] for row in rows.messages(conversation)] == [1, 2]
    assert visitor.frames("error") == [] and staff.frames("error") == []

    # The seq given back is the next one taken.
    next_id = await visitor.send_message("encore")
    await eventually(lambda: next_id in visitor.acks, timeout=10)
    assert visitor.acks[next_id]["seq"] == 3


async def connect_team(clients, servers, operators) -> list[ProtocolClient]:
    """Connect one console per operator, alternating between the processes."""
    consoles = [
        clients.staff(servers[index % 2], operator)
        for index, operator in enumerate(operators)
    ]
    await asyncio.gather(*(console.connect() for console in consoles))
    return consoles


async def start_visitors(
    clients, servers, service: str, count: int
) -> list[ProtocolClient]:
    visitors = [
        clients.visitor(servers[index % 2], label=f"visitor{index}")
        for index in range(count)
    ]
    for visitor in visitors:
        await visitor.connect()
        await visitor.start(service=service)
    return visitors


@pytest.mark.integration
async def test_claim_race_across_processes(servers, rows, make_team, clients):
    team = make_team(20)
    visitors = await start_visitors(clients, servers, team.service, 10)
    conversations = {visitor.conversation for visitor in visitors}
    consoles = await connect_team(clients, servers, team.operators)
    for console in consoles:
        assert {
            item["conversation"] for item in console.frames("hello")[0]["queue"]
        } == (conversations)

    answers: dict[int, list[dict]] = {index: [] for index in range(len(consoles))}

    async def claim_until_empty(index: int, console: ProtocolClient) -> None:
        for _ in range(40):
            answer = await console.claim()
            answers[index].append(answer)
            if answer["type"] == "error" and answer["code"] in (
                "queue_empty",
                "at_capacity",
            ):
                return
        raise AssertionError(f"{console.label} never got queue_empty")

    # gather sends every first claim in the same loop iteration.
    await asyncio.gather(
        *(claim_until_empty(index, console) for index, console in enumerate(consoles))
    )

    winners: dict[str, list[int]] = {}
    for index, console in enumerate(consoles):
        for frame in console.frames("assigned"):
            winners.setdefault(frame["conversation"]["id"], []).append(index)
    # Every conversation claimed exactly once, none lost, none invented.
    assert set(winners) == conversations
    assert {
        conversation: len(who) for conversation, who in winners.items()
    } == dict.fromkeys(conversations, 1)
    capacity = {
        row["user_id"]: row["max_conversations"]
        for row in rows.connection.execute(
            "SELECT user_id, max_conversations FROM console_staffprofile"
        ).fetchall()
    }
    for index, console in enumerate(consoles):
        operator = team.operators[index]
        won = [a for a in answers[index] if a["type"] == "assigned"]
        lost = [a for a in answers[index] if a["type"] == "error"]
        codes = Counter(a["code"] for a in lost)
        assert set(codes) <= {"already_claimed", "queue_empty", "at_capacity"}, codes
        if "at_capacity" in codes:
            assert len(won) >= capacity[operator.user_id], (console.label, codes)
        assert console.sealed_violations == []

    for conversation, (index,) in winners.items():
        row = rows.conversation(conversation)
        assert row["status"] == "active"
        assert row["operator_id"] == team.operators[index].user_id
    # Each visitor hears of exactly one operator.
    for visitor in visitors:
        await visitor.expect("joined", timeout=5)
    await asyncio.sleep(0.5)
    assert [len(visitor.frames("joined")) for visitor in visitors] == [1] * 10


@pytest.mark.integration
async def test_claim_race_on_one_conversation_across_processes(
    servers, rows, make_team, clients
):
    team = make_team(20)
    (visitor,) = await start_visitors(clients, servers, team.service, 1)
    consoles = await connect_team(clients, servers, team.operators)

    answers = await asyncio.gather(
        *(console.claim(visitor.conversation) for console in consoles)
    )

    kinds = Counter(
        answer["type"] if answer["type"] == "assigned" else answer["code"]
        for answer in answers
    )
    assert kinds == {"assigned": 1, "already_claimed": 19}
    (winner,) = [
        index for index, answer in enumerate(answers) if answer["type"] == "assigned"
    ]
    row = rows.conversation(visitor.conversation)
    assert row["status"] == "active"
    assert row["operator_id"] == team.operators[winner].user_id
    await visitor.expect("joined", name=team.operators[winner].pseudonym, timeout=5)
    await asyncio.sleep(0.5)
    assert sum(len(console.frames("assigned")) for console in consoles) == 1
    assert len(visitor.frames("joined")) == 1
