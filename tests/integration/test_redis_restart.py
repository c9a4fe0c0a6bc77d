"""A Redis restart mid-conversation loses no acknowledged message.

docs/protocol.md "Guarantees" and docs/security.md §B8: the database decides, the
channel layer only signals. Messages sent while Redis is down are still
stored and acknowledged (``live: false``); the reconcile and the clients'
gap ``sync`` make up the lost notifications.

This test owns its Redis (it stops it), so it never touches a shared one,
and runs its own pair of Daphne processes on it.
"""

import asyncio
import time
from collections import Counter

import pytest

from tests.integration.client import ProtocolClient, eventually

SEND_EVERY = 0.15  # each way: under the visitor's 10 frames/s limit
BEFORE_RESTART = 2.5
REDIS_DOWN = 1.5
AFTER_RESTART = 3.0
DRAIN = 15.0
HUNG_MESSAGES = 4


def delivered_exactly(
    receiver: ProtocolClient, sender: ProtocolClient, conversation: str
):
    """Which of ``sender``'s acked messages ``receiver`` lacks or got wrong."""
    view = receiver.view(conversation)
    missing, wrong = [], []
    for client_id, ack in sender.acks.items():
        frame = view.others.get(ack["seq"])
        if frame is None:
            missing.append((ack["seq"], sender.sent[client_id]["text"]))
        elif frame["text"] != sender.sent[client_id]["text"]:
            wrong.append((ack["seq"], frame["text"], sender.sent[client_id]["text"]))
    return missing, wrong


@pytest.mark.integration
async def test_redis_restart_loses_no_acknowledged_message(
    own_redis, extra_servers, rows, make_team, clients
):
    a, b = extra_servers("A-redis", "B-redis", redis_url=own_redis.url)
    team = make_team(1)
    (operator,) = team.operators

    visitor = clients.visitor(a, label="visitor@A")
    await visitor.connect()
    await visitor.start(service=team.service)
    conversation = visitor.conversation
    staff = clients.staff(b, operator, label="operator@B")
    await staff.connect()
    assert (await staff.claim(conversation))["type"] == "assigned"
    await visitor.expect("joined", timeout=5)

    phase = {"name": "before"}
    sent_in: dict[str, str] = {}
    stop_sending = asyncio.Event()

    async def keep_sending(client: ProtocolClient, prefix: str) -> None:
        number = 0
        while not stop_sending.is_set():
            number += 1
            client_id = await client.send_message(f"{prefix} {number}", conversation)
            sent_in[client_id] = phase["name"]
            await asyncio.sleep(SEND_EVERY)

    senders = [
        asyncio.create_task(keep_sending(visitor, "visiteur")),
        asyncio.create_task(keep_sending(staff, "écoutante")),
    ]
    try:
        await asyncio.sleep(BEFORE_RESTART)
        phase["name"] = "down"
        down_at = time.monotonic()
        await asyncio.to_thread(own_redis.stop)
        await asyncio.sleep(REDIS_DOWN)
        await asyncio.to_thread(own_redis.start)
        up_at = time.monotonic()
        phase["name"] = "after"
        await asyncio.sleep(AFTER_RESTART)
    finally:
        stop_sending.set()
        await asyncio.gather(*senders)

    def settled() -> bool:
        if visitor.outbox or staff.outbox:
            return False
        return not any(
            delivered_exactly(receiver, sender, conversation)[0]
            for receiver, sender in ((visitor, staff), (staff, visitor))
        )

    def report() -> str:
        lines = []
        for receiver, sender in ((visitor, staff), (staff, visitor)):
            missing, wrong = delivered_exactly(receiver, sender, conversation)
            lines.append(
                f"{receiver.label}: missing {missing}, wrong {wrong}, "
                f"unacked own {[sender.sent[i]['text'] for i in receiver.outbox]}, "
                f"sockets {receiver.sockets}, closes {receiver.closes}, "
                f"syncs {len(receiver.syncs)}"
            )
        return "\n".join(lines)

    await eventually(settled, timeout=DRAIN, message=report, interval=0.2)

    # Every message sent, in every phase, was acknowledged once with one seq.
    for client in (visitor, staff):
        assert set(client.acks) == set(client.sent), client.label
        assert not client.rejected, client.rejected
        assert not client.conflicts, client.conflicts
    phases = Counter(sent_in.values())
    assert phases["down"] >= 4, phases

    # Acknowledgements did not wait for Redis: some came while it was down.
    acked_while_down = [
        client_id
        for client in (visitor, staff)
        for client_id, at in client.ack_times.items()
        if down_at < at < up_at
    ]
    assert acked_while_down, "no message was acknowledged while Redis was down"

    # Every acknowledged message reached the other side exactly once (by seq).
    for receiver, sender in ((visitor, staff), (staff, visitor)):
        missing, wrong = delivered_exactly(receiver, sender, conversation)
        assert (missing, wrong) == ([], []), report()
        extra = set(receiver.view(conversation).others) - {
            ack["seq"] for ack in sender.acks.values()
        }
        assert not extra, f"{receiver.label} got seqs nobody sent: {extra}"
        twice = [
            (item.frame["seq"], item.frame["text"]) for item in receiver.duplicates
        ]
        assert twice == [], (
            f"{receiver.label} was sent these twice, unasked: {twice}; "
            f"syncs {receiver.syncs}, sockets {receiver.sockets}, "
            f"closes {receiver.closes}"
        )

    # seq is gapless, and each message is stored once.
    total = len(visitor.sent) + len(staff.sent)
    for client in (visitor, staff):
        assert client.view(conversation).contiguous() == total
    stored = rows.messages(conversation)
    assert [row["seq"] for row in stored] == list(range(1, total + 1))
    assert Counter(row["client_id"] for row in stored) == Counter(
        list(visitor.sent) + list(staff.sent)
    )
    assert rows.conversation(conversation)["last_seq"] == total
    for client in (visitor, staff):
        print(
            f"{client.label}: sent {len(client.sent)} ({dict(phases)} overall), "
            f"live:false acks {sum(not a.get('live', True) for a in client.acks.values())}, "
            f"sockets {client.sockets}, closes {client.closes}, resends {client.resends}, "
            f"syncs {len(client.syncs)}, own messages echoed {len(client.own_frames)}"
        )


@pytest.mark.integration
async def test_while_redis_hangs_the_sender_gets_an_ack_not_a_copy(
    own_redis, extra_servers, make_team, clients
):
    """Redis hung: acks come from the database, delivery from the reconcile.

    The sender must still get only its ``ack`` (docs/protocol.md: "a live socket
    never receives a copy of what it sent itself"). A hung Redis makes every layer send wait for
    ``LAYER_SEND_TIMEOUT_SECONDS``, which holds the message handler between
    the commit and ``note_own_message`` long enough for the process's
    reconcile to run in between.
    """
    a, b = extra_servers("A-hung", "B-hung", redis_url=own_redis.url)
    team = make_team(1)
    visitor = clients.visitor(a, label="visitor@A")
    await visitor.connect()
    await visitor.start(service=team.service)
    conversation = visitor.conversation
    staff = clients.staff(b, team.operators[0], label="operator@B")
    await staff.connect()
    assert (await staff.claim(conversation))["type"] == "assigned"
    await visitor.expect("joined", timeout=5)
    greeting = await staff.send_message("Bonjour, je vous écoute.", conversation)
    await staff.expect("ack", id=greeting, timeout=5)
    await visitor.expect("message", seq=1, timeout=5)

    own_redis.pause()
    try:
        sent = []
        for number in range(2, 2 + HUNG_MESSAGES):
            sent.append(await visitor.send_message(f"redis figé {number}"))
            await asyncio.sleep(0.1)
        await eventually(
            lambda: all(client_id in visitor.acks for client_id in sent),
            timeout=HUNG_MESSAGES * 2 + 5,
            message="messages sent while Redis hangs were not all acknowledged",
        )
        expected = list(range(2, 2 + HUNG_MESSAGES))
        assert [visitor.acks[client_id]["seq"] for client_id in sent] == expected
        # Nothing signals the operator's process: its reconcile reads the seqs.
        await eventually(
            lambda: sorted(staff.view(conversation).others) == expected,
            timeout=10,
            message=lambda: f"operator got {sorted(staff.view(conversation).others)}",
        )
    finally:
        own_redis.resume()
    await asyncio.sleep(1.0)
    assert visitor.sockets == 1 and visitor.syncs == []
    echoed = [(item.frame["seq"], item.frame["text"]) for item in visitor.own_frames]
    assert echoed == [], (
        f"the visitor got its own messages back as message frames: {echoed}"
    )
