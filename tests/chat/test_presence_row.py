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


@pytest.mark.django_db(transaction=True)
def test_the_upsert_is_one_statement_with_no_transaction_around_it():
    """Every socket that attaches writes its row: ``bulk_create`` wrapped
    the one statement in BEGIN and COMMIT, two more round trips."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as upsert:
        do_register_connection("chan-1", server_id="s1", user_id=None)
    assert [query["sql"].split()[0] for query in upsert.captured_queries] == ["INSERT"]
    assert Connection.objects.get(channel_name="chan-1").server_id == "s1"
