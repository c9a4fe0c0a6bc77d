"""A socket never gets its own message back, even from a reconcile's read.

The process's reconcile (``realtime.runtime.reconcile_now``) can read a
conversation's messages while the sender's own handler is between its
commit and its ack. Seen under load in the bench (issue 14): the reconcile
kept a copy of the socket's own-seq set, the handler noted its seq in the
real one, and the visitor got its message back.
"""

import asyncio
import uuid
from types import SimpleNamespace

import pytest

from chat import socket as chat_socket
from chat.socket import ProtocolConsumer


class Probe(ProtocolConsumer):
    """A socket's delivery state, with no connection behind it."""

    def __init__(self) -> None:
        self.delivered = {}
        self.own_ids = set()
        self.own_seqs = {}
        self.deliver_lock = asyncio.Lock()
        self.sent = []

    async def send_json(self, frame):
        self.sent.append(frame)


@pytest.mark.parametrize("noted_during_read", [True, False])
async def test_a_reconcile_read_during_the_send_sends_nothing_back(
    monkeypatch, noted_during_read
):
    probe = Probe()
    conversation_id = uuid.uuid4()
    client_id = str(uuid.uuid4())
    probe.delivered[conversation_id] = 1
    probe.expect_own_message(client_id)
    stored = SimpleNamespace(
        conversation_id=conversation_id, client_id=uuid.UUID(client_id), seq=2
    )

    def read(_fn):
        async def reading(*_args, **_kwargs):
            # The handler's commit is done; it acks while this reads.
            if noted_during_read:
                probe.note_own_message(stored)
            return [{"type": "message", "seq": 2, "client_id": client_id}]

        return reading

    monkeypatch.setattr(chat_socket, "db_read", read)
    await probe.catch_up(conversation_id, 2)
    if not noted_during_read:
        probe.note_own_message(stored)
    assert probe.sent == []
    assert probe.delivered[conversation_id] == 2
    # The next message from the other side is delivered as usual.
    await probe.catch_up(conversation_id, 3, {"type": "message", "seq": 3}, None)
    assert [frame["seq"] for frame in probe.sent] == [3]


async def test_the_seq_a_socket_expects_next_follows_what_it_saw_and_sent():
    """``next_seq``: the guess a message write in one statement relies on."""
    probe = Probe()
    conversation_id = uuid.uuid4()
    assert probe.next_seq(conversation_id) == 1
    probe.delivered[conversation_id] = 1
    assert probe.next_seq(conversation_id) == 2
    # Its own message, acked before any event about it arrived.
    probe.note_own_message(
        SimpleNamespace(conversation_id=conversation_id, client_id=uuid.uuid4(), seq=2)
    )
    assert probe.next_seq(conversation_id) == 3
    # The other side's message, delivered from its event.
    await probe.catch_up(conversation_id, 3, {"type": "message", "seq": 3}, None)
    assert probe.next_seq(conversation_id) == 4
