"""The web tier's PostgreSQL role stores sealed rows and cannot read them.

Runs ``anonymity/sql/web_role.sql`` on a real, migrated database and
connects as the role it configures (docs/security.md).
"""

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from tests.integration.processes import libpq_conninfo

pytestmark = pytest.mark.integration


def as_role(url: str, role: str) -> str:
    return make_conninfo(libpq_conninfo(url), user=role)


def test_web_role_can_insert_but_not_read_sealed_rows(database_url, seed, web_role):
    admin = libpq_conninfo(database_url)
    role = web_role
    now = datetime.now(tz=UTC)
    with psycopg.connect(as_role(database_url, role), autocommit=True) as web:
        # What Django's create() sends: INSERT … RETURNING id.
        row_id = web.execute(
            "INSERT INTO anonymity_sealedconnection"
            " (conversation_id, key_id, sealed, sealed_at, expires_at)"
            " VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (
                uuid.uuid4(),
                "2026-12",
                b"\x01" * 240,
                now,
                now + timedelta(days=365),
            ),
        ).fetchone()[0]
        assert web.execute(
            "SELECT id, key_id FROM anonymity_sealedconnection WHERE id = %s",
            (row_id,),
        ).fetchone() == (row_id, "2026-12")
        for query in (
            "SELECT sealed FROM anonymity_sealedconnection",
            "SELECT * FROM anonymity_sealedconnection",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                web.execute(query)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            web.execute(
                "INSERT INTO anonymity_sealedconnection"
                " (conversation_id, key_id, sealed, sealed_at, expires_at)"
                " VALUES (%s, %s, %s, %s, %s) RETURNING sealed",
                (uuid.uuid4(), "2026-12", b"\x02", now, now),
            )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            web.execute("UPDATE anonymity_sealedconnection SET sealed = ''")
        # Everything else the web tier needs stays readable.
        web.execute("SELECT count(*) FROM chat_message").fetchone()
        # Retention can still delete expired rows.
        web.execute(
            "DELETE FROM anonymity_sealedconnection WHERE expires_at < %s",
            (now + timedelta(days=400),),
        )
    with psycopg.connect(admin) as connection:
        assert connection.execute(
            "SELECT count(*) FROM anonymity_sealedconnection WHERE id = %s",
            (row_id,),
        ).fetchone() == (0,)
