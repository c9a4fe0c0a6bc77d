"""A whole conversation through a real Daphne behind a trusted proxy.

Afterwards the visitor's address is nowhere: not in the server's output,
not in any table or column of the database (nor in the file's raw bytes),
not in any HTTP or WebSocket response. The custodian's private key opens
the sealed record and gives it back.
"""

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from anonymity.unsealing import load_private_key, unseal_ip_address

ROOT = Path(__file__).resolve().parents[2]
VISITOR_IP = "203.0.113.77"
SECRET_TEXT = "Texte-confidentiel-9317"
PASSPHRASE = "custodian-passphrase-e2e"

SEED = """
import json, sys
import django
django.setup()
from tests.factories import make_commune, make_operator, make_service, make_session_cookie
make_commune()
service = make_service("national", name="Plateforme nationale")
user = make_operator(service, pseudonym="Opératrice 12")
print(json.dumps({"cookie": make_session_cookie(user).decode()}))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    database = tmp_path / "e2e.sqlite3"
    custodian = tmp_path / "custodian"
    (tmp_path / "passphrase").write_text(PASSPHRASE)
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{database}",
        "SECRET_KEY": "e2e-secret-key-0123456789-0123456789",
        "CHANNEL_LAYER_KEYS": "e2e-layer-key-0123456789",
        "MESSAGE_KEYS": "e1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        "SECRETS_FILE": "/nonexistent",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CSRF_TRUSTED_ORIGINS": f"http://127.0.0.1:{port}",
        "TRUSTED_PROXIES": "127.0.0.1",
        "LOG_LEVEL": "DEBUG",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("REDIS_URL", None)
    python = sys.executable
    run = lambda *args: subprocess.run(  # noqa: E731
        [python, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    run("migrate", "--noinput")
    run(
        "create_sealing_keys",
        "--install",
        "--out",
        str(custodian),
        "--passphrase-file",
        str(tmp_path / "passphrase"),
    )
    seeded = subprocess.run(
        [python, "-c", SEED],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    cookie = json.loads(seeded.stdout.strip().splitlines()[-1])["cookie"]
    log_path = tmp_path / "daphne.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                str(Path(python).with_name("daphne")),
                "-v",
                "2",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "config.asgi:application",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail("daphne died:\n" + log_path.read_text())
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("daphne did not start:\n" + log_path.read_text())
    yield {
        "port": port,
        "cookie": cookie,
        "database": database,
        "custodian": custodian,
        "log": log_path,
        "process": process,
    }
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def http_get(port: int, path: str) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        headers={"X-Forwarded-For": VISITOR_IP, "X-Client-Port": "50505"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return str(dict(response.headers)) + response.read().decode()
    except urllib.error.HTTPError as error:
        return str(dict(error.headers)) + error.read().decode()


async def hold_conversation(port: int, cookie: str) -> list[str]:
    origin = f"http://127.0.0.1:{port}"
    received: list[str] = []
    proxy = {"Origin": origin, "X-Forwarded-For": VISITOR_IP, "X-Client-Port": "50505"}

    async def next_of(socket_, kind):
        while True:
            raw = await asyncio.wait_for(socket_.recv(), 10)
            received.append(raw)
            frame = json.loads(raw)
            if frame["type"] == kind:
                return frame

    url = f"ws://127.0.0.1:{port}"
    async with (
        connect(f"{url}/ws/chat/", additional_headers=proxy) as visitor,
        connect(
            f"{url}/ws/console/",
            additional_headers={"Origin": origin, "Cookie": cookie},
        ) as operator,
    ):
        await next_of(operator, "hello")
        await visitor.send(
            json.dumps({"type": "start", "place": "33000", "role": "victim"})
        )
        started = await next_of(visitor, "started")
        await operator.send(json.dumps({"type": "claim"}))
        await next_of(operator, "assigned")
        await visitor.send(
            json.dumps(
                {"type": "message", "id": str(uuid.uuid4()), "text": SECRET_TEXT}
            )
        )
        await next_of(visitor, "ack")
        assert (await next_of(operator, "message"))["text"] == SECRET_TEXT
        await operator.send(
            json.dumps(
                {
                    "type": "message",
                    "conversation": started["conversation"],
                    "id": str(uuid.uuid4()),
                    "text": "Je vous écoute.",
                }
            )
        )
        await next_of(visitor, "message")
        await operator.send(
            json.dumps(
                {
                    "type": "note",
                    "conversation": started["conversation"],
                    "text": "note",
                }
            )
        )
        await next_of(operator, "noted")
        await visitor.send(
            json.dumps({"type": "resume", "token": "x" * 43})
        )  # bad_state
        await next_of(visitor, "error")
    # The visitor comes back on a new connection: a second sealed record.
    async with connect(f"{url}/ws/chat/", additional_headers=proxy) as again:
        await again.send(
            json.dumps({"type": "resume", "token": started["token"], "last_seq": 0})
        )
        await next_of(again, "resumed")
        await again.send(json.dumps({"type": "leave"}))
        await next_of(again, "closed")
    return received


def dump_database(path: Path) -> str:
    connection = sqlite3.connect(path)
    parts = []
    tables = [
        row[0]
        for row in connection.execute(
            "select name from sqlite_master where type='table'"
        )
    ]
    for table in tables:
        for row in connection.execute(f'select * from "{table}"'):  # noqa: S608
            for value in row:
                if isinstance(value, bytes):
                    parts += [value.hex(), value.decode("latin-1")]
                else:
                    parts.append(str(value))
    connection.close()
    return "\n".join(parts)


def test_visitor_address_is_nowhere_but_sealed(server):
    port = server["port"]
    responses = [
        http_get(port, path)
        for path in ("/", "/api/communes/?q=bord", "/console/login/", "/nope")
    ]
    frames = asyncio.run(hold_conversation(port, server["cookie"]))
    time.sleep(1)
    server["process"].terminate()
    server["process"].wait(timeout=10)

    everything = {
        "server output": server["log"].read_text(),
        "database dump": dump_database(server["database"]),
        "database file": server["database"].read_bytes().decode("latin-1"),
        "HTTP responses": "\n".join(responses),
        "WebSocket frames": "\n".join(frames),
    }
    assert len(frames) > 5
    assert "Texte-confidentiel" in everything["WebSocket frames"]
    for where, text in everything.items():
        assert VISITOR_IP not in text, where
    assert SECRET_TEXT not in everything["database dump"]
    assert SECRET_TEXT not in everything["database file"]

    connection = sqlite3.connect(server["database"])
    rows = connection.execute(
        "select key_id, conversation_id, sealed from anonymity_sealedconnection"
    ).fetchall()
    connection.close()
    assert len(rows) == 2
    for key_id, conversation_id, sealed in rows:
        key = load_private_key(
            server["custodian"] / f"sealing-{key_id}.key.pem", PASSPHRASE.encode()
        )
        record = unseal_ip_address(
            sealed,
            key_id=key_id,
            conversation_id=str(uuid.UUID(conversation_id)),
            private_key=key,
        )
        assert record["ip"] == VISITOR_IP
        assert record["port"] == 50505
