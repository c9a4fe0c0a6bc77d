"""The PostgreSQL backend checks a connection at most once a second.

Channels counts every database call of a socket as a request, and Django
health-checks a persistent connection at each request with a round trip
(``config/postgresql/base.py``, issue 14).
"""

import time

import psycopg
import pytest
from environ import Env

from django.db.utils import ConnectionHandler, OperationalError

from config.postgresql import base
from tests.integration.processes import libpq_conninfo

pytestmark = pytest.mark.integration


@pytest.fixture
def wrapper(database_url, django_db_blocker):
    settings = Env.db_url_config(database_url)
    settings["ENGINE"] = "config.postgresql"
    settings["CONN_MAX_AGE"] = 60
    settings["CONN_HEALTH_CHECKS"] = True
    handler = ConnectionHandler({"default": settings})
    connection = handler["default"]
    assert isinstance(connection, base.DatabaseWrapper)
    # A connection of its own to a database of its own, not the test one.
    with django_db_blocker.unblock():
        yield connection
        connection.close()


@pytest.fixture
def checks(wrapper, monkeypatch):
    """Count the health checks' round trips."""
    calls = []
    real = base.DatabaseWrapper.is_usable

    def is_usable(self):
        calls.append(time.monotonic())
        return real(self)

    monkeypatch.setattr(base.DatabaseWrapper, "is_usable", is_usable)
    return calls


def request(connection) -> int:
    """One Channels database call: the request cycle, then a query."""
    connection.close_if_unusable_or_obsolete()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_one_check_per_interval_not_per_call(wrapper, checks):
    pid = request(wrapper)
    for _ in range(20):
        assert request(wrapper) == pid
    # A new connection counts as checked: 20 calls within the interval
    # make no round trip; the first call after it makes one.
    assert checks == []
    wrapper.checked_at -= base.HEALTH_CHECK_INTERVAL
    assert request(wrapper) == pid
    assert len(checks) == 1
    assert request(wrapper) == pid
    assert len(checks) == 1


def test_a_dead_connection_is_replaced_after_the_interval(
    wrapper, checks, database_url
):
    pid = request(wrapper)
    with psycopg.connect(libpq_conninfo(database_url), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    wrapper.checked_at -= base.HEALTH_CHECK_INTERVAL
    assert request(wrapper) != pid
    assert checks, "no health check ran"


def test_a_connection_killed_within_the_interval_fails_one_call_only(
    wrapper, database_url
):
    pid = request(wrapper)
    with psycopg.connect(libpq_conninfo(database_url), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(OperationalError):
        request(wrapper)
    assert request(wrapper) != pid
