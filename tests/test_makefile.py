"""The Makefile's own checks: a busy port, a missing Python.

Both run ``make`` for targets that install nothing.
"""

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="no make")


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_busy_port_is_reported_before_anything_runs():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = make("check-port", "HOST=127.0.0.1", f"PORT={port}")
    assert result.returncode != 0
    assert f"Port {port} on 127.0.0.1 is already in use" in result.stdout
    assert "make run PORT=" in result.stdout


def test_a_free_port_passes():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert make("check-port", "HOST=127.0.0.1", f"PORT={port}").returncode == 0


def test_run_checks_the_port_before_saying_serving_on():
    makefile = (ROOT / "Makefile").read_text()
    run = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "check-port" in run.splitlines()[0]
    assert run.index("check-port", 1) < run.index("Serving on")


def test_without_python_311_make_says_what_to_install():
    result = make("test", "PYTHON=/nonexistent/python3")
    assert result.returncode != 0
    assert "No Python 3.11 or newer found" in result.stdout
    assert "apt-get install python3 python3-venv" in result.stdout
    assert "PYTHON=" in result.stdout
