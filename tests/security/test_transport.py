"""Finding 6 (transport): SIGTERM closes with 1012, huge frames with 1009.

Against a real Daphne process (SQLite, in-memory layer), like
tests/anonymity/test_daphne_end_to_end.py.
"""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parents[2]
SEED = """
import django
django.setup()
from tests.factories import make_commune, make_service
make_commune()
make_service("national", name="Plateforme nationale")
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def daphne(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'transport.sqlite3'}",
        "SECRET_KEY": "transport-secret-key-0123456789-0123456789",
        "CHANNEL_LAYER_KEYS": "transport-layer-key-0123456789",
        "MESSAGE_KEYS": "e1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        "SECRETS_FILE": "/nonexistent",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("REDIS_URL", None)
    python = sys.executable
    for argv in (["manage.py", "migrate", "--noinput"], ["-c", SEED]):
        subprocess.run(
            [python, *argv], cwd=ROOT, env=env, check=True, capture_output=True,
            timeout=120,
        )  # fmt: skip
    log_path = tmp_path / "daphne.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(Path(python).with_name("daphne")), "-v", "0", "-b", "127.0.0.1",
             "-p", str(port), "config.asgi:application"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail("daphne died:\n" + log_path.read_text())
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    yield {"port": port, "process": process, "log": log_path}
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


async def open_visitor(port):
    return await connect(
        f"ws://127.0.0.1:{port}/ws/chat/",
        additional_headers={"Origin": f"http://127.0.0.1:{port}"},
        max_size=None,
        ping_interval=None,
        close_timeout=2,
    )


async def closed_code(ws, timeout=5.0):
    try:
        async with asyncio.timeout(timeout):
            async for _frame in ws:
                pass
    except ConnectionClosed:
        pass
    return ws.close_code


async def test_sigterm_closes_every_socket_with_1012(daphne):
    port = daphne["port"]
    idle = await open_visitor(port)
    started = await open_visitor(port)
    await started.send('{"type": "start", "place": "33000", "role": "victim"}')
    assert '"started"' in await asyncio.wait_for(started.recv(), 5)
    daphne["process"].send_signal(signal.SIGTERM)
    codes = await asyncio.gather(closed_code(idle), closed_code(started))
    assert codes == [1012, 1012], (codes, daphne["log"].read_text())
    daphne["process"].wait(timeout=15)


async def test_an_oversized_frame_closes_with_1009(daphne):
    ws = await open_visitor(daphne["port"])
    await ws.send("x" * (128 * 1024))
    assert await closed_code(ws) == 1009
    # The server is fine: a new socket works.
    again = await open_visitor(daphne["port"])
    await again.send('{"type": "sync", "after": 0}')
    assert '"bad_state"' in await asyncio.wait_for(again.recv(), 5)
    await again.close()
