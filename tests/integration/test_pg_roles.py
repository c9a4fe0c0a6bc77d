"""The web tier's PostgreSQL role stores sealed rows and cannot read them.

Runs ``anonymity/sql/web_role.sql`` on a real, migrated database and
connects as the role it configures (docs/security.md).
"""

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.integration.processes import libpq_conninfo

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[2] / "anonymity/sql/web_role.sql"


def as_role(url: str, role: str) -> str:
    return make_conninfo(libpq_conninfo(url), user=role)


def test_web_role_can_insert_but_not_read_sealed_rows(database_url, seed):
    role = f"ecoute_web_{uuid.uuid4().hex[:8]}"
    admin = libpq_conninfo(database_url)
    statements = [
        line for line in SCRIPT.read_text().splitlines() if not line.startswith("--")
    ]
    script = "\n".join(statements).replace(":web", f'"{role}"')
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        for statement in script.split(";"):
            if statement.strip():
                connection.execute(statement)
    now = datetime.now(tz=UTC)
    try:
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
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            name = sql.Identifier(role)
            connection.execute(sql.SQL("DROP OWNED BY {}").format(name))
            connection.execute(sql.SQL("DROP ROLE {}").format(name))
