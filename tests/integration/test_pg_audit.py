"""On PostgreSQL the audit trail refuses UPDATE and DELETE, even from its
owner (trigger), and the web role lacks both rights (docs/security.md)."""

import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from tests.integration.processes import libpq_conninfo

pytestmark = pytest.mark.integration

INSERT = (
    "INSERT INTO escalation_auditevent"
    " (seq, at, day, kind, actor_id, actor, subject, data, prev_mac, mac)"
    " VALUES (%s, %s, %s, 'test', NULL, '', '', '{}', %s, %s) RETURNING id"
)


def insert_event(connection, seq: int) -> int:
    return connection.execute(
        INSERT,
        (seq, datetime.now(tz=UTC), datetime.now(tz=UTC).date(), "0" * 64, "1" * 64),
    ).fetchone()[0]


def test_owner_cannot_change_or_delete_audit_rows(database_url, seed):
    admin = libpq_conninfo(database_url)
    seq = 10_000_000 + uuid.uuid4().int % 1_000_000
    with psycopg.connect(admin, autocommit=True) as connection:
        row_id = insert_event(connection, seq)
        for statement in (
            "UPDATE escalation_auditevent SET kind = 'forged' WHERE id = %s",
            "DELETE FROM escalation_auditevent WHERE id = %s",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                connection.execute(statement, (row_id,))
        assert connection.execute(
            "SELECT kind FROM escalation_auditevent WHERE id = %s", (row_id,)
        ).fetchone() == ("test",)


def test_web_role_may_append_and_read_but_not_change(database_url, seed, web_role):
    admin = libpq_conninfo(database_url)
    role = web_role
    conninfo = make_conninfo(admin, user=role)
    with psycopg.connect(conninfo, autocommit=True) as web:
        row_id = insert_event(web, 20_000_000 + uuid.uuid4().int % 1_000_000)
        assert web.execute(
            "SELECT count(*) FROM escalation_auditevent WHERE id = %s", (row_id,)
        ).fetchone() == (1,)
        for statement in (
            "UPDATE escalation_auditevent SET kind = 'forged' WHERE id = %s",
            "DELETE FROM escalation_auditevent WHERE id = %s",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                web.execute(statement, (row_id,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            web.execute("TRUNCATE escalation_auditevent")


def test_sealed_blobs_only_through_the_disclosure_function(
    database_url, seed, web_role
):
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from anonymity.unsealing import unseal_ip_address

    made = seed.call("approved_disclosure")
    admin = libpq_conninfo(database_url)
    role = web_role
    function = "SELECT id, conversation_id, key_id, sealed FROM escalation_sealed_for_disclosure(%s)"
    with psycopg.connect(make_conninfo(admin, user=role), autocommit=True) as web:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            web.execute("SELECT sealed FROM anonymity_sealedconnection")
        assert web.execute(function, (uuid.uuid4(),)).fetchall() == []
        # Approved and unexpired: the blob comes, and opens with the key.
        rows = web.execute(function, (made["request"],)).fetchall()
        assert len(rows) == 1
        _id, conversation_id, key_id, blob = rows[0]
        record = unseal_ip_address(
            bytes(blob),
            key_id=key_id,
            conversation_id=str(conversation_id),
            private_key=X25519PrivateKey.from_private_bytes(
                bytes.fromhex(made["private_key"])
            ),
        )
        assert record["ip"] == "203.0.113.77" and record["port"] == 51515
    # Expired, or no longer approved: nothing.
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(
            "UPDATE escalation_disclosurerequest"
            " SET expires_at = now() - interval '1 minute' WHERE id = %s",
            (made["request"],),
        )
    with psycopg.connect(make_conninfo(admin, user=role), autocommit=True) as web:
        assert web.execute(function, (made["request"],)).fetchall() == []
