"""Fixtures of the multi-process tests: PostgreSQL, Redis, two Daphnes.

Where the servers come from:

* PostgreSQL: ``DATABASE_URL`` when it is set to a loopback PostgreSQL
  server; otherwise a throwaway cluster (``initdb`` + ``pg_ctl``, as the
  ``postgres`` user when running as root) on a free port. Either way the
  tests get a fresh database with a unique name, migrated, dropped at the
  end of the session.
* Redis: ``REDIS_URL`` when set to a loopback server (isolated by a unique
  ``CHANNEL_PREFIX``); otherwise a throwaway ``redis-server``. The Redis
  restart test always starts its own, never touching a shared one.
* With neither the environment nor the binaries, every test here skips
  with a reason starting ``INTEGRATION SKIPPED:``.

These tests do not use pytest-django's database (the rest of the suite
runs on SQLite): data is created by a Django worker process on the test
database through tests/factories.py, and rows are read with psycopg.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.integration.client import ProtocolClient
from tests.integration.processes import (
    DaphneServer,
    SeedWorker,
    ThrowawayPostgres,
    ThrowawayRedis,
    find_postgres_bin,
    is_loopback_url,
    is_postgres_url,
    libpq_conninfo,
    postgres_user_missing,
    read_tail,
    redis_ping,
    server_environment,
    start_servers,
    stop_servers,
    with_database,
)

SKIP = "INTEGRATION SKIPPED: "
WEB_ROLE_SQL = Path(__file__).resolve().parents[2] / "anonymity/sql/web_role.sql"
_started_servers: list[DaphneServer] = []


@dataclass
class Operator:
    user_id: int
    pseudonym: str
    cookie: str


@dataclass
class Team:
    service: str
    operators: list[Operator]


@dataclass
class Stack:
    """What the servers share: database, Redis, prefix, logs."""

    database_url: str
    redis_url: str
    channel_prefix: str
    log_dir: Path

    def environment(self, **overrides: str) -> dict[str, str]:
        values = {
            "database_url": self.database_url,
            "redis_url": self.redis_url,
            "channel_prefix": self.channel_prefix,
        }
        values.update(overrides)
        return server_environment(**values)


# -- servers -------------------------------------------------------------------


@pytest.fixture(scope="session")
def integration_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where every child writes its stdout and stderr (tests grep them)."""
    return tmp_path_factory.mktemp("integration-logs")


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL", "")
    if url and is_postgres_url(url) and is_loopback_url(url):
        try:
            with psycopg.connect(libpq_conninfo(url), connect_timeout=5):
                pass
        except psycopg.Error as error:
            pytest.fail(f"DATABASE_URL is set but unreachable: {error}")
        yield url
        return
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        pytest.skip(
            SKIP + "no loopback PostgreSQL DATABASE_URL and no initdb/pg_ctl "
            "on PATH or in /usr/lib/postgresql/*/bin"
        )
    if postgres_user_missing():
        pytest.skip(
            SKIP + "running as root and there is no postgres user to run initdb"
        )
    server = ThrowawayPostgres(bin_dir)
    try:
        server.start()
        yield server.admin_url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def database_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, uniquely named database on that server, dropped at the end."""
    name = f"ecoute_it_{uuid.uuid4().hex[:12]}"
    admin = libpq_conninfo(postgres_admin_url)
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(postgres_admin_url, name)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url = os.environ.get("REDIS_URL", "")
    if url and is_loopback_url(url):
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        if not redis_ping(parts.port or 6379, parts.hostname or "127.0.0.1"):
            pytest.fail(f"REDIS_URL is set but does not answer PING: {url}")
        yield url
        return
    if shutil.which("redis-server") is None:
        pytest.skip(SKIP + "no loopback REDIS_URL and no redis-server on PATH")
    server = ThrowawayRedis()
    try:
        server.start()
        yield server.url
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def stack(database_url: str, redis_url: str, integration_logs: Path) -> Stack:
    return Stack(
        database_url=database_url,
        redis_url=redis_url,
        channel_prefix=f"ecoute-it-{uuid.uuid4().hex[:10]}",
        log_dir=integration_logs,
    )


@pytest.fixture(scope="session")
def seed(stack: Stack) -> Iterator[SeedWorker]:
    """Migrate the test database and create the shared reference data."""
    # The worker emits no channel-layer event anyone listens to.
    worker = SeedWorker(stack.environment(redis_url=""), stack.log_dir)
    try:
        worker.call("migrate", timeout=180)
        worker.call("base")
        yield worker
    finally:
        worker.stop()


def launch(stack: Stack, names: list[str], **overrides: str) -> list[DaphneServer]:
    servers = [
        DaphneServer(name, stack.environment(**overrides), stack.log_dir)
        for name in names
    ]
    _started_servers.extend(servers)
    try:
        start_servers(servers)
    except BaseException:
        stop_servers(servers)
        raise
    return servers


@pytest.fixture(scope="session")
def servers(
    stack: Stack, seed: SeedWorker
) -> Iterator[tuple[DaphneServer, DaphneServer]]:
    """Process A and process B, sharing one PostgreSQL and one Redis."""
    a, b = launch(stack, ["A", "B"])
    try:
        yield a, b
    finally:
        stop_servers([a, b])


@pytest.fixture
def extra_servers(stack: Stack, seed: SeedWorker) -> Iterator[Any]:
    """Start dedicated server processes for one test; stopped when it ends."""
    started: list[DaphneServer] = []

    def start(*names: str, **overrides: str) -> list[DaphneServer]:
        tag = uuid.uuid4().hex[:4]
        servers = launch(stack, [f"{name}-{tag}" for name in names], **overrides)
        started.extend(servers)
        return servers

    yield start
    stop_servers(started)


@pytest.fixture
def own_redis() -> Iterator[ThrowawayRedis]:
    """A redis-server this test may stop and restart (same port)."""
    if shutil.which("redis-server") is None:
        pytest.skip(SKIP + "the Redis restart test needs redis-server on PATH")
    server = ThrowawayRedis()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


# -- data and clients --------------------------------------------------------------


@pytest.fixture
def make_team(seed: SeedWorker) -> Any:
    """A service of its own (so tests never share a queue) and its operators."""

    def make(operators: int, service: str | None = None) -> Team:
        slug = service or f"it-{uuid.uuid4().hex[:10]}"
        data = seed.call("team", slug=slug, operators=operators)
        return Team(
            data["service"], [Operator(**person) for person in data["operators"]]
        )

    return make


class Rows:
    """Reads of the test database, for assertions (never writes)."""

    def __init__(self, url: str) -> None:
        self.connection = psycopg.connect(
            libpq_conninfo(url),
            autocommit=True,
            row_factory=dict_row,
            connect_timeout=5,
        )

    def conversation(self, conversation_id: str) -> dict[str, Any]:
        row = self.connection.execute(
            "SELECT * FROM chat_conversation WHERE id = %s", (conversation_id,)
        ).fetchone()
        assert row is not None, conversation_id
        return row

    def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        return self.connection.execute(
            # Bodies are encrypted at rest: compare seq, sender and client id.
            "SELECT seq, sender, client_id::text AS client_id"
            " FROM chat_message WHERE conversation_id = %s ORDER BY seq",
            (conversation_id,),
        ).fetchall()

    def now(self) -> datetime:
        """The database's clock, which the sweeps' deadlines use."""
        return self.connection.execute("SELECT now() AS now").fetchone()["now"]

    def connections(self, *, user_id: int) -> list[dict[str, Any]]:
        """The presence rows (one per open socket, says chat.models)."""
        return self.connection.execute(
            "SELECT channel_name, server_id, heartbeat_at, now() AS db_now"
            " FROM chat_connection WHERE user_id = %s ORDER BY id",
            (user_id,),
        ).fetchall()

    def close(self) -> None:
        self.connection.close()


@pytest.fixture(scope="session")
def rows(database_url: str, seed: SeedWorker) -> Iterator[Rows]:
    reader = Rows(database_url)
    yield reader
    reader.close()


class Clients:
    """Creates protocol clients and closes every one when the test ends."""

    def __init__(self) -> None:
        self.all: list[ProtocolClient] = []

    def visitor(self, server: DaphneServer, **options: Any) -> ProtocolClient:
        client = ProtocolClient(server, "visitor", **options)
        self.all.append(client)
        return client

    def staff(
        self, server: DaphneServer, operator: Operator, **options: Any
    ) -> ProtocolClient:
        options.setdefault("label", operator.pseudonym)
        client = ProtocolClient(server, "staff", cookie=operator.cookie, **options)
        self.all.append(client)
        return client

    async def close(self) -> None:
        await asyncio.gather(*(client.close() for client in self.all))
        errors = [error for client in self.all for error in client.internal_errors]
        assert not errors, "a test client failed to handle a frame:\n" + errors[0]


@pytest.fixture
async def clients() -> Any:
    made = Clients()
    yield made
    await made.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    """On failure, show the end of each server's stderr next to the error."""
    report = yield
    if report.failed and item.get_closest_marker("integration") and _started_servers:
        for server in _started_servers[-4:]:
            report.sections.append(
                (
                    f"daphne {server.name} stderr (tail)",
                    read_tail(server.stderr_path, 3000),
                )
            )
    return report


@pytest.fixture
def web_role(database_url: str, seed: SeedWorker) -> Iterator[str]:
    """A fresh login role with the web tier's grants (``web_role.sql``),
    dropped after the test; yields its name."""
    from psycopg import sql

    role = f"ecoute_web_{uuid.uuid4().hex[:8]}"
    admin = libpq_conninfo(database_url)
    script = "\n".join(
        line
        for line in WEB_ROLE_SQL.read_text().splitlines()
        if not line.startswith("--")
    ).replace(":web", f'"{role}"')
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        for statement in script.split(";"):
            if statement.strip():
                connection.execute(statement)
    try:
        yield role
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            name = sql.Identifier(role)
            connection.execute(sql.SQL("DROP OWNED BY {}").format(name))
            connection.execute(sql.SQL("DROP ROLE {}").format(name))
