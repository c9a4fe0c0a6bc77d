"""The message table's indexes: each message pays for every one of them.

PostgreSQL's plan for a lookup by conversation is checked in
``tests/integration/test_pg_one_statement.py``.
"""

import pytest

from django.db import connection

from chat.models import Message

pytestmark = pytest.mark.django_db


def message_indexes() -> dict[str, dict]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(
            cursor, Message._meta.db_table
        )
    return {name: c for name, c in constraints.items() if c["index"] or c["unique"]}


def test_lookups_by_conversation_use_the_seq_index_not_one_of_their_own():
    indexes = message_indexes()
    alone = [name for name, c in indexes.items() if c["columns"] == ["conversation_id"]]
    assert alone == []
    leading = {
        tuple(c["columns"])
        for c in indexes.values()
        if c["unique"] and c["columns"][:1] == ["conversation_id"]
    }
    assert ("conversation_id", "seq") in leading
