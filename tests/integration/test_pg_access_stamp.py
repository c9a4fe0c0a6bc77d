"""On PostgreSQL the staff write's stamp read is ordered against revocation.

A revoking change in flight makes the read wait and then see the new
stamp; two reads of the same user's stamp do not wait for each other
(``console.auth.read_access_version``, issue 14).
"""

import threading
import time

import psycopg
import pytest

from console.auth import access_version_sql
from tests.integration.processes import libpq_conninfo

pytestmark = pytest.mark.integration

SQL = access_version_sql("postgresql")


@pytest.fixture
def stamp(database_url, seed):
    """A user row with an access stamp in the seeded database."""
    conninfo = libpq_conninfo(database_url)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        user_id = connection.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name,"
            " last_name, email, is_staff, is_active, date_joined)"
            " VALUES ('!', false, %s, '', '', '', false, true, now()) RETURNING id",
            (f"stamp-{time.monotonic_ns()}",),
        ).fetchone()[0]
        connection.execute(
            "INSERT INTO console_accessstamp (user_id, version) VALUES (%s, 1)",
            (user_id,),
        )
    yield conninfo, user_id
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(
            "DELETE FROM console_accessstamp WHERE user_id = %s", (user_id,)
        )
        connection.execute("DELETE FROM auth_user WHERE id = %s", (user_id,))


def test_read_waits_for_a_revocation_in_flight_and_sees_it(stamp):
    conninfo, user_id = stamp
    seen: list[int] = []
    with psycopg.connect(conninfo) as revoker, psycopg.connect(conninfo) as writer:
        revoker.execute(
            "UPDATE console_accessstamp SET version = version + 1 WHERE user_id = %s",
            (user_id,),
        )

        def read() -> None:
            seen.append(writer.execute(SQL, (user_id,)).fetchone()[0])
            writer.rollback()

        reader = threading.Thread(target=read)
        reader.start()
        reader.join(timeout=0.5)
        assert reader.is_alive() and not seen, "the read did not wait"
        revoker.commit()
        reader.join(timeout=5)
    assert seen == [2]


def test_a_revocation_waits_for_the_write_that_read_the_stamp(stamp):
    conninfo, user_id = stamp
    done = threading.Event()
    with psycopg.connect(conninfo) as writer, psycopg.connect(conninfo) as revoker:
        assert writer.execute(SQL, (user_id,)).fetchone() == (1,)

        def revoke() -> None:
            revoker.execute(
                "UPDATE console_accessstamp SET version = version + 1"
                " WHERE user_id = %s",
                (user_id,),
            )
            revoker.commit()
            done.set()

        thread = threading.Thread(target=revoke)
        thread.start()
        assert not done.wait(0.5), "the revocation did not wait for the write"
        writer.commit()
        assert done.wait(5)
        thread.join()


def test_reads_of_the_same_stamp_do_not_wait_for_each_other(stamp):
    conninfo, user_id = stamp
    with psycopg.connect(conninfo) as first, psycopg.connect(conninfo) as second:
        assert first.execute(SQL, (user_id,)).fetchone() == (1,)
        second.execute("SET lock_timeout = '500ms'")
        assert second.execute(SQL, (user_id,)).fetchone() == (1,)
