"""A socket's presence row is written with one upsert (issue 14)."""

import pytest

from chat.models import Connection
from chat.services import do_register_connection
from tests.factories import make_conversation

pytestmark = pytest.mark.django_db


def test_registering_a_channel_again_refreshes_its_one_row():
    conversation, _token = make_conversation()
    do_register_connection("chan-1", server_id="s1")
    first = Connection.objects.get(channel_name="chan-1")

    do_register_connection("chan-1", server_id="s2", conversation_id=conversation.id)

    row = Connection.objects.get(channel_name="chan-1")
    assert Connection.objects.count() == 1
    assert (row.id, row.connected_at) == (first.id, first.connected_at)
    assert row.server_id == "s2"
    assert row.conversation_id == conversation.id
    assert row.heartbeat_at >= first.heartbeat_at
