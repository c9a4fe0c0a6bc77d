"""A fresh clone, with nothing beside it, sets the demo up and serves it.

The repository's HEAD commit is cloned into an empty temporary folder; the
steps of the Makefile's ``run`` target (read from the Makefile itself, so
the two cannot drift apart) run there, then Daphne serves ``/`` and
``/healthz``. ``HOME`` is an empty folder and ``DATA_DIR``,
``DATABASE_URL``, ``REDIS_URL`` and ``SECRETS_FILE`` are unset: anything
read from outside the clone (a design folder beside it, a developer's
files) fails.

To stay fast it reuses the interpreter running the tests (its virtualenv's
packages) instead of building a new virtualenv; the project's code and
data all come from the clone (the working directory).
"""

import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNSET = (
    "DATA_DIR",
    "DATABASE_URL",
    "REDIS_URL",
    "SECRETS_FILE",
    "DJANGO_SETTINGS_MODULE",
    "PYTHONPATH",
)


def recipe(makefile: str, target: str) -> list[str]:
    """The command lines of ``target`` in the Makefile, in order."""
    match = re.search(
        rf"^{re.escape(target)}:[^\n]*\n((?:\t[^\n]*\n)+)", makefile, re.M
    )
    assert match, f"no {target} target in the Makefile"
    return [line.strip() for line in match.group(1).splitlines()]


def as_command(line: str, *, port: int) -> list[str] | None:
    """A Makefile line as argv with this interpreter; None for @ lines."""
    if line.startswith("@"):
        return None  # echo and the port check
    line = line.replace("$(HOST)", "127.0.0.1").replace("$(PORT)", str(port))
    argv = shlex.split(line)
    if argv[0] == "$(BIN)/python":
        return [sys.executable, *argv[1:]]
    if argv[0] == "$(BIN)/daphne":
        return [sys.executable, "-m", "daphne", *argv[1:]]
    raise AssertionError(f"unexpected step in the Makefile: {line}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.timeout(900)
def test_fresh_clone_sets_up_and_serves_the_demo(tmp_path):
    empty = tmp_path / "empty"
    home = tmp_path / "home"
    empty.mkdir()
    home.mkdir()
    clone = empty / "ecoute"
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    subprocess.run(
        ["git", "clone", "--quiet", "--no-checkout", str(ROOT), str(clone)],
        check=True,
        timeout=300,
    )
    subprocess.run(
        ["git", "-C", str(clone), "checkout", "--quiet", head], check=True, timeout=300
    )
    assert sorted(p.name for p in empty.iterdir()) == ["ecoute"]

    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in UNSET and not key.startswith(("PYTEST_", "DJANGO_"))
    }
    environment.update(HOME=str(home), PYTHONUNBUFFERED="1", PYTHONWARNINGS="ignore")
    makefile = (clone / "Makefile").read_text()
    port = free_port()
    steps = recipe(makefile, "var/secrets.env") + recipe(makefile, "run")
    commands = [c for c in (as_command(s, port=port) for s in steps) if c]
    *setup, serve = commands
    assert serve[1:3] == ["-m", "daphne"], serve
    log = tmp_path / "setup.log"
    with log.open("w") as output:
        for command in setup:
            output.write(f"$ {shlex.join(command)}\n")
            output.flush()
            result = subprocess.run(
                command,
                cwd=clone,
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=600,
            )
            assert result.returncode == 0, log.read_text()[-4000:]
    printed = log.read_text()
    assert "TOTP secret" in printed and "otpauth://" in printed
    assert (clone / "var/ecoute.sqlite3").exists()

    daphne_log = tmp_path / "daphne.log"
    with daphne_log.open("w") as output:
        process = subprocess.Popen(
            serve,
            cwd=clone,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, daphne_log.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, daphne_log.read_text()
                time.sleep(0.2)
        status, body = fetch(f"http://127.0.0.1:{port}/")
        assert status == 200, body[:500]
        assert 'lang="fr"' in body
        # The place search reads the imported communes.
        status, places = fetch(f"http://127.0.0.1:{port}/api/communes/?q=bordeaux")
        assert status == 200 and "Bordeaux" in places, places[:500]
        assert fetch(f"http://127.0.0.1:{port}/healthz") == (200, '{"status": "ok"}')
    finally:
        process.terminate()
        process.wait(timeout=20)
