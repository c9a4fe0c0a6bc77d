"""The systemd units of deploy/ agree with the nginx site and the settings."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def test_daphne_unit_runs_quietly_on_loopback():
    unit = (DEPLOY / "systemd/ecoute-daphne@.service").read_text()
    (command,) = re.findall(r"^ExecStart=(.*)$", unit, re.M)
    assert " -v 0 " in command
    assert " --no-server-name " in command
    assert " -b 127.0.0.1 -p %i " in command
    assert command.endswith("config.asgi:application")
    assert "EnvironmentFile=/etc/ecoute/ecoute.env" in unit


def test_nginx_upstreams_are_loopback_ports_the_settings_trust():
    site = (DEPLOY / "nginx/ecoute.conf").read_text()
    upstreams = re.findall(r"^\s+server 127\.0\.0\.1:(\d+)", site, re.M)
    assert len(upstreams) >= 2
    environment = (DEPLOY / "ecoute.env").read_text()
    assert re.search(r"^TRUSTED_PROXIES=127\.0\.0\.1\s", environment, re.M)


def test_purge_runs_daily():
    timer = (DEPLOY / "systemd/ecoute-purge.timer").read_text()
    assert "OnCalendar=*-*-* 03:30:00" in timer
    service = (DEPLOY / "systemd/ecoute-purge.service").read_text()
    assert re.search(r"^ExecStart=.* manage\.py purge$", service, re.M)


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed"
)
def test_units_pass_systemd_analyze(tmp_path):
    daphne = tmp_path / "ecoute-daphne@8001.service"
    daphne.write_text((DEPLOY / "systemd/ecoute-daphne@.service").read_text())
    units = [daphne]
    for name in ("ecoute-purge.service", "ecoute-purge.timer"):
        (tmp_path / name).write_text((DEPLOY / "systemd" / name).read_text())
        units.append(tmp_path / name)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *map(str, units)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    # /srv/ecoute does not exist on a test machine: that line is expected.
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and "is not executable" not in line
    ]
    assert not problems, problems


def test_environment_file_is_readable_by_systemd():
    """systemd's EnvironmentFile has no trailing comments: a value line's
    "# ..." would become part of the value."""
    for line in (DEPLOY / "ecoute.env").read_text().splitlines():
        if line and not line.startswith("#"):
            assert re.fullmatch(r"[A-Z_]+=\S*", line), line
