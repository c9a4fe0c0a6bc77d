"""Real server processes for the integration tests, bounded and cleaned up.

PostgreSQL, Redis and Daphne run as child processes listening on loopback
only. Every wait has a deadline and checks that the child is still alive;
a child that dies early has its log printed in the failure message.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import queue
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parents[2]
PYTHON = str(BASE_DIR / ".venv/bin/python")
DAPHNE = str(BASE_DIR / ".venv/bin/daphne")
LOOPBACK = "127.0.0.1"

# Short timings so presence and grace play out in seconds (settings.py).
TEST_TIMINGS = {
    "PRESENCE_HEARTBEAT_SECONDS": "1",
    "PRESENCE_STALE_SECONDS": "3",
    "SWEEP_INTERVAL_SECONDS": "0.5",
    "OPERATOR_GRACE_SECONDS": "3",
    "VISITOR_GRACE_SECONDS": "4",
    "RECONCILE_SECONDS": "1",
    # Every test client comes from 127.0.0.1, one client key: admission
    # limits are proven in tests/security, not in every scenario.
    "ADMISSION_SOCKETS_PER_CLIENT": "100000",
    "ADMISSION_STARTS_PER_CLIENT": "100000",
    "ADMISSION_WRONG_TOKENS_PER_CLIENT": "100000",
    "QUEUE_CEILING_PER_SERVICE": "100000",
}
# Fixed test-only keys, in the formats of config/settings_test.py.
TEST_KEYS = {
    "SECRET_KEY": "integration-secret-key-not-for-production-0123456789",
    "CHANNEL_LAYER_KEYS": "integration-layer-key-0123456789abcdef",
    "MESSAGE_KEYS": "t1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    "AUDIT_CHAIN_SEED": "dGVzdC1hdWRpdC1jaGFpbi1zZWVkLTAxMjM0NTY3ODk=",
    "AUDIT_SIGNING_KEY": "dGVzdC1hdWRpdC1zaWduaW5nLWtleS0wMTIzNDU2Nzg=",
}


class ProcessDied(AssertionError):
    """A child process exited while the test still needed it."""


def free_port() -> int:
    """Return a loopback TCP port that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def read_tail(path: Path, limit: int = 4000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "<no log>"
    return text[-limit:]


def wait_for_port(
    port: int,
    *,
    timeout: float,
    alive: Any = None,
    describe: Any = None,
) -> None:
    """Wait until something accepts on ``LOOPBACK:port``.

    ``alive()`` is checked on every try; when it returns False the child
    has died and ``describe()`` (its log) goes into the error.
    """
    deadline = time.monotonic() + timeout
    while True:
        if alive is not None and not alive():
            raise ProcessDied(f"process died before listening on {port}:\n{describe()}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            details = describe() if describe else ""
            raise TimeoutError(
                f"nothing listening on {port} after {timeout}s\n{details}"
            )
        time.sleep(0.1)


def stop_process(proc: subprocess.Popen | None, *, timeout: float = 5.0) -> None:
    """Terminate, then kill, a child; never leave it running."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def _close_quietly(handle: IO | None) -> None:
    if handle is not None:
        with contextlib.suppress(OSError):
            handle.close()


# -- PostgreSQL --------------------------------------------------------------


def find_postgres_bin() -> Path | None:
    """Return the directory holding initdb and pg_ctl, or None."""
    candidates = []
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(found).resolve().parent)
    candidates += [
        Path(path).parent
        for path in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    ]
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    return None


def postgres_user_missing() -> bool:
    """Root must hand PostgreSQL to the ``postgres`` user; is there one?"""
    if os.geteuid() != 0:
        return False
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return True
    return False


def _as_postgres_user(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run as the ``postgres`` user then."""
    if os.geteuid() != 0:
        return argv
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *argv]
    return ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(argv)]


@dataclass
class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary directory, on a free port."""

    bin_dir: Path
    port: int = field(default_factory=free_port)
    root: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="ecoute-pg-"))
    )

    @property
    def admin_url(self) -> str:
        return f"postgres://postgres@{LOOPBACK}:{self.port}/postgres"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, user="postgres")
        data = self.root / "data"
        initdb = subprocess.run(
            _as_postgres_user(
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            ),
            capture_output=True,
            text=True,
            timeout=60,
        )
        if initdb.returncode != 0:
            raise ProcessDied(f"initdb failed: {initdb.stdout}\n{initdb.stderr}")
        for attempt in range(3):
            if self._pg_ctl_start(data):
                break
            if attempt == 2 or "already in use" not in read_tail(self.log):
                raise ProcessDied(f"pg_ctl start failed:\n{read_tail(self.log)}")
            self.port = free_port()
        wait_for_port(self.port, timeout=20, describe=lambda: read_tail(self.log))

    def _pg_ctl_start(self, data: Path) -> bool:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses={LOOPBACK} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        result = subprocess.run(
            _as_postgres_user(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(self.log),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "30",
                    "start",
                ]
            ),
            capture_output=True,
            timeout=45,
        )
        if result.returncode != 0:
            with open(self.log, "a") as log:
                log.write(f"pg_ctl: {result.stdout!r} {result.stderr!r}\n")
        return result.returncode == 0

    def stop(self) -> None:
        data = self.root / "data"
        if (data / "postmaster.pid").exists():
            subprocess.run(
                _as_postgres_user(
                    [
                        str(self.bin_dir / "pg_ctl"),
                        "-D",
                        str(data),
                        "-m",
                        "immediate",
                        "-w",
                        "stop",
                    ]
                ),
                capture_output=True,
                timeout=30,
            )
        shutil.rmtree(self.root, ignore_errors=True)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def libpq_conninfo(url: str) -> str:
    """psycopg wants ``postgresql://``; django-environ takes both spellings."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, ""))


def is_postgres_url(url: str) -> bool:
    return urlsplit(url).scheme in ("postgres", "postgresql", "pgsql", "psql")


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1")


# -- Redis -------------------------------------------------------------------


def redis_ping(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class ThrowawayRedis:
    """A redis-server this test session owns: it may stop and restart it."""

    port: int = field(default_factory=free_port)
    root: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="ecoute-redis-"))
    )
    proc: subprocess.Popen | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    @property
    def log(self) -> Path:
        return self.root / "redis.log"

    def start(self, timeout: float = 10.0) -> None:
        self.starts += 1
        with open(self.log, "ab") as log:
            log.write(f"\n--- start #{self.starts} ---\n".encode())
            self.proc = subprocess.Popen(
                [
                    shutil.which("redis-server") or "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    LOOPBACK,
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.root),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while not redis_ping(self.port):
            if self.proc.poll() is not None:
                raise ProcessDied(f"redis-server exited:\n{read_tail(self.log)}")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"redis-server not answering:\n{read_tail(self.log)}"
                )
            time.sleep(0.05)

    def pause(self) -> None:
        """SIGSTOP: connections stay open but nothing answers (a hung Redis)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """SIGTERM: with ``--save ""`` Redis shuts down without saving."""
        stop_process(self.proc)
        self.proc = None

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.resume()
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


# -- Daphne ------------------------------------------------------------------


def server_environment(
    *, database_url: str, redis_url: str, channel_prefix: str, **extra: str
) -> dict[str, str]:
    """The environment of a Daphne child (and of the seeding worker)."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "DJANGO_"))
        and key not in ("DATABASE_URL", "REDIS_URL", "CHANNEL_PREFIX")
    }
    environment.update(TEST_KEYS)
    environment.update(TEST_TIMINGS)
    environment.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CHANNEL_PREFIX=channel_prefix,
        SECRETS_FILE="/nonexistent",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DEBUG="false",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    environment.update(extra)
    return environment


@dataclass
class DaphneServer:
    """One ``daphne`` process serving ``config.asgi:application``."""

    name: str
    environment: dict[str, str]
    log_dir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    _stdout: IO | None = None
    _stderr: IO | None = None

    @property
    def stdout_path(self) -> Path:
        return self.log_dir / f"daphne-{self.name}.stdout.log"

    @property
    def stderr_path(self) -> Path:
        return self.log_dir / f"daphne-{self.name}.stderr.log"

    @property
    def origin(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def ws_url(self, path: str) -> str:
        return f"ws://{LOOPBACK}:{self.port}{path}"

    def spawn(self) -> None:
        self._stdout = open(self.stdout_path, "ab")  # closed in stop()
        self._stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            [
                DAPHNE,
                "-v",
                "0",
                "--no-server-name",
                "-b",
                LOOPBACK,
                "-p",
                str(self.port),
                "config.asgi:application",
            ],
            cwd=BASE_DIR,
            env=self.environment,
            stdout=self._stdout,
            stderr=self._stderr,
            stdin=subprocess.DEVNULL,
        )

    def wait_ready(self, timeout: float = 45.0) -> None:
        wait_for_port(
            self.port, timeout=timeout, alive=self.alive, describe=self.describe
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def describe(self) -> str:
        code = self.proc.poll() if self.proc else None
        return (
            f"daphne {self.name} on port {self.port} (exit code {code})\n"
            f"--- stderr ({self.stderr_path}) ---\n{read_tail(self.stderr_path)}"
        )

    def kill(self) -> None:
        """SIGKILL: no disconnect handler, no cleanup runs in the child."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        stop_process(self.proc)
        _close_quietly(self._stdout)
        _close_quietly(self._stderr)


def stop_servers(servers: list[DaphneServer]) -> None:
    """SIGTERM all first, so they shut down in parallel, then reap each."""
    for server in servers:
        if server.alive():
            server.proc.terminate()
    for server in servers:
        server.stop()


def start_servers(servers: list[DaphneServer], timeout: float = 45.0) -> None:
    """Spawn all, then wait for each: the imports run in parallel.

    A free port can be taken between ``free_port()`` and the bind: then
    that server starts again on another port.
    """
    for server in servers:
        server.spawn()
    for server in servers:
        for attempt in range(3):
            try:
                server.wait_ready(timeout)
                break
            except ProcessDied:
                if attempt == 2 or "already in use" not in read_tail(
                    server.stderr_path
                ):
                    raise
                server.stop()
                server.port = free_port()
                server.spawn()


# -- The seeding worker -------------------------------------------------------


class SeedWorker:
    """A Django process on the test database that runs the factories.

    Test data takes the production path (tests/factories.py calls the real
    services). The worker reads one JSON request per line and answers one
    JSON line prefixed with ``REPLY_MARK``; anything else it prints is
    ignored. A reader thread keeps every wait bounded.
    """

    REPLY_MARK = "@@seed@@ "

    def __init__(self, environment: dict[str, str], log_dir: Path) -> None:
        self.log = log_dir / "seed-worker.stderr.log"
        self._stderr = open(self.log, "ab")  # closed in stop()
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "tests.integration.seed_worker"],
            cwd=BASE_DIR,
            env=environment
            | {"DJANGO_SETTINGS_MODULE": "tests.integration.seed_settings"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(self.REPLY_MARK):
                self._lines.put(line[len(self.REPLY_MARK) :])
        self._lines.put(None)

    def call(self, op: str, timeout: float = 120.0, **arguments: Any) -> Any:
        if self.proc.poll() is not None:
            raise ProcessDied(f"seed worker exited:\n{read_tail(self.log)}")
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **arguments}) + "\n")
        self.proc.stdin.flush()
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(
                f"seed worker: no answer to {op} in {timeout}s\n{read_tail(self.log)}"
            ) from None
        if line is None:
            raise ProcessDied(f"seed worker exited:\n{read_tail(self.log)}")
        reply = json.loads(line)
        if reply.get("error"):
            raise RuntimeError(f"seed worker {op} failed:\n{reply['error']}")
        return reply["result"]

    def stop(self) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        stop_process(self.proc)
        self._reader.join(timeout=5)
        _close_quietly(self.proc.stdout)
        _close_quietly(self._stderr)
