"""The production recipe, run: deploy/nginx/ecoute.conf in front of two Daphnes.

nginx (Debian's /usr/sbin/nginx) runs as a child on loopback ports with a
self-signed certificate, from the shipped configuration file with only its
ports and paths substituted. Through it: a whole conversation (visitor
start, operator claim, messages both ways), static files, ``/healthz`` and
``/readyz``. The visitor connects from 127.0.0.2 and sends its own
``X-Forwarded-For: 203.0.113.9``: the sealed record holds the address and
port nginx saw, never the one the client claimed.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import re
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.client import connect

from anonymity.unsealing import load_private_key, unseal_ip_address
from tests.integration.client import ProtocolClient, eventually
from tests.integration.processes import (
    BASE_DIR,
    LOOPBACK,
    PYTHON,
    free_port,
    read_tail,
    stop_process,
    wait_for_port,
)

SKIP = "INTEGRATION SKIPPED: "
NGINX = "/usr/sbin/nginx"
SHIPPED = BASE_DIR / "deploy/nginx/ecoute.conf"
VISITOR_SOURCE = "127.0.0.2"
CLAIMED_ADDRESS = "203.0.113.9"
PASSPHRASE = "nginx-test-custodian-passphrase"


# -- configuration -------------------------------------------------------------


def substitute(text: str, pattern: str, replacement: str, count: int) -> str:
    """Replace ``pattern``; fail if the shipped file no longer has it."""
    result, found = re.subn(pattern, replacement, text, flags=re.M)
    assert found == count, f"{SHIPPED.name}: {pattern!r} found {found}x, not {count}"
    return result


def render_site(
    *, http_port: int, https_port: int, upstreams: list[int], root: Path
) -> str:
    """The shipped site file with this test's ports and paths."""
    text = SHIPPED.read_text()
    servers = "".join(
        f"    server {LOOPBACK}:{port} max_fails=1 fail_timeout=5s;\n"
        for port in upstreams
    )
    text = substitute(
        text,
        r"^    server 127\.0\.0\.1:800\d [^\n]*\n(?:    server [^\n]*\n)*",
        servers,
        1,
    )
    text = substitute(text, r"^    listen \[::\]:\d+[^\n]*\n", "", 2)
    text = substitute(
        text, r"^    listen 80;", f"    listen {LOOPBACK}:{http_port};", 1
    )
    text = substitute(
        text, r"^    listen 443 ssl", f"    listen {LOOPBACK}:{https_port} ssl", 1
    )
    text = substitute(
        text,
        r"/etc/letsencrypt/live/chat\.example\.org/fullchain\.pem",
        str(root / "cert.pem"),
        1,
    )
    text = substitute(
        text,
        r"/etc/letsencrypt/live/chat\.example\.org/privkey\.pem",
        str(root / "key.pem"),
        1,
    )
    text = substitute(
        text, r"/var/log/nginx/ecoute\.error\.log", str(root / "error.log"), 2
    )
    text = substitute(text, r"/var/www/html", str(root / "acme"), 1)
    # The sources, not a collectstatic copy: the test compares bytes.
    return substitute(
        text, r"/srv/ecoute/var/static/", str(BASE_DIR / "frontend/static") + "/", 1
    )


def main_config(root: Path, site: Path) -> str:
    """What Debian's /etc/nginx/nginx.conf gives, inside a temporary prefix."""
    mime = (
        "include /etc/nginx/mime.types;"
        if Path("/etc/nginx/mime.types").exists()
        else "types { text/css css; text/javascript js; }"
    )
    return f"""
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/main-error.log warn;
{"user root root;" if _is_root() else ""}
events {{ worker_connections 256; }}
http {{
    {mime}
    default_type application/octet-stream;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    include {site};
}}
"""


def _is_root() -> bool:
    return os.geteuid() == 0


def self_signed_certificate(root: Path) -> Path:
    """A certificate for 127.0.0.1, made with ``cryptography``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(LOOPBACK))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = root / "cert.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (root / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path


@dataclass
class Proxy:
    """nginx as the clients see it; quacks like a DaphneServer for them."""

    name: str
    https_port: int
    http_port: int
    root: Path
    tls: ssl.SSLContext

    @property
    def origin(self) -> str:
        return f"https://{LOOPBACK}:{self.https_port}"

    def ws_url(self, path: str) -> str:
        return f"wss://{LOOPBACK}:{self.https_port}{path}"

    def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        request = urllib.request.Request(  # noqa: S310 - https, built here
            self.origin + path, headers=headers or {}
        )
        handler = urllib.request.HTTPSHandler(context=self.tls)
        opener = urllib.request.build_opener(handler, NoRedirect)
        try:
            return opener.open(request, timeout=10)
        except urllib.error.HTTPError as error:
            return error


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class ProxiedClient(ProtocolClient):
    """The suite's protocol client over TLS, lying in X-Forwarded-For."""

    source = VISITOR_SOURCE

    async def _open(self) -> None:
        headers = {
            "Origin": self.server.origin,
            "X-Forwarded-For": CLAIMED_ADDRESS,
            "X-Client-Port": "1",
        }
        if self.cookie:
            headers["Cookie"] = self.cookie
        self.ws = await connect(
            self.server.ws_url(self.path),
            additional_headers=headers,
            ssl=self.server.tls,
            local_addr=(self.source, 0),
            proxy=None,
            open_timeout=5,
            ping_interval=None,
            close_timeout=2,
            compression=None,
        )
        self.sockets += 1
        self.local_port = self.ws.local_address[1]


# -- fixtures ----------------------------------------------------------------------


@pytest.fixture
def daphnes(extra_servers: Any) -> list[Any]:
    # Behind the proxy: forwarding headers believed from 127.0.0.1 only,
    # HTTPS known from X-Forwarded-Proto (else the redirect would loop).
    return extra_servers(
        "P1",
        "P2",
        TRUSTED_PROXIES=LOOPBACK,
        SECURE_SSL_REDIRECT="1",
        SECURE_PROXY_SSL_HEADER="1",
        SECURE_HSTS_SECONDS="3600",
    )


@pytest.fixture
def proxy(daphnes: list[Any], tmp_path: Path) -> Iterator[Proxy]:
    if not Path(NGINX).exists():
        pytest.skip(
            SKIP + f"{NGINX} is missing: apt-get install nginx-light (.ci/run does)"
        )
    root = tmp_path / "nginx"
    for sub in ("tmp", "acme"):
        (root / sub).mkdir(parents=True)
    cert = self_signed_certificate(root)
    site = root / "ecoute.conf"
    http_port, https_port = free_port(), free_port()
    site.write_text(
        render_site(
            http_port=http_port,
            https_port=https_port,
            upstreams=[server.port for server in daphnes],
            root=root,
        )
    )
    conf = root / "nginx.conf"
    conf.write_text(main_config(root, site))
    check = subprocess.run(
        [
            NGINX,
            "-t",
            "-p",
            str(root),
            "-e",
            str(root / "main-error.log"),
            "-c",
            str(conf),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert check.returncode == 0, check.stderr
    log = open(root / "nginx.stderr.log", "wb")  # closed below
    process = subprocess.Popen(
        [NGINX, "-p", str(root), "-e", str(root / "main-error.log"), "-c", str(conf)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_for_port(
            https_port,
            timeout=15,
            alive=lambda: process.poll() is None,
            describe=lambda: read_tail(root / "main-error.log"),
        )
        tls = ssl.create_default_context(cafile=str(cert))
        yield Proxy("nginx", https_port, http_port, root, tls)
    finally:
        stop_process(process)
        log.close()


@pytest.fixture
def custodian(stack: Any, seed: Any, tmp_path: Path) -> Path:
    """This month's sealing key pair, its public half installed."""
    out = tmp_path / "custodian"
    (tmp_path / "passphrase").write_text(PASSPHRASE)
    result = subprocess.run(
        [
            PYTHON,
            "manage.py",
            "create_sealing_keys",
            "--install",
            "--out",
            str(out),
            "--passphrase-file",
            str(tmp_path / "passphrase"),
        ],
        cwd=BASE_DIR,
        env=stack.environment(redis_url=""),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    key_id = datetime.datetime.now(datetime.UTC).strftime("%Y-%m")
    assert f"Installed sealing public key {key_id}" in result.stdout, (
        "another test installed this month's sealing key first:\n" + result.stdout
    )
    return out


# -- the test ------------------------------------------------------------------------


@pytest.mark.integration
async def test_conversation_static_and_probes_through_nginx(
    proxy: Proxy, daphnes: list[Any], custodian: Path, make_team: Any, rows: Any
) -> None:
    team = make_team(1)
    operator = team.operators[0]
    visitor = ProxiedClient(proxy, "visitor", label="visitor@nginx")
    staff = ProxiedClient(proxy, "staff", cookie=operator.cookie, label="op@nginx")
    try:
        await visitor.connect()
        hello = await staff.connect()
        assert hello["type"] == "hello"
        started = await visitor.start(
            place="33000", role="victim", service=team.service
        )
        assert started["type"] == "started", started
        conversation = started["conversation"]
        assigned = await staff.claim(conversation)
        assert assigned["type"] == "assigned", assigned
        await visitor.expect("joined", timeout=5)

        await visitor.send_message("Bonjour, par le proxy")
        await staff.send_message("Je vous écoute.", conversation)

        def exchanged() -> bool:
            return (
                not visitor.outbox
                and not staff.outbox
                and len(visitor.view().others) == 1
                and len(staff.view(conversation).others) == 1
            )

        await eventually(exchanged, timeout=10, message="messages through nginx")
        visitor_port = visitor.local_port

        # least_conn: with the visitor's socket open on one process, the
        # operator's went to the other.
        servers = {
            row["server_id"] for row in rows.connections(user_id=operator.user_id)
        }
        visitor_servers = {
            row["server_id"]
            for row in rows.connection.execute(
                "SELECT server_id FROM chat_connection WHERE conversation_id = %s",
                (conversation,),
            ).fetchall()
        }
        assert servers and visitor_servers and servers.isdisjoint(visitor_servers), (
            servers,
            visitor_servers,
        )
    finally:
        await visitor.close()
        await staff.close()
    assert not visitor.internal_errors and not staff.internal_errors

    # The sealed record holds what nginx saw: 127.0.0.2 and its port.
    for record in unseal_all(rows, custodian, conversation):
        assert record["ip"] == VISITOR_SOURCE, record
        assert record["port"] == visitor_port, record

    # A visitor on the proxy's own address (trusted) lying in the header:
    # had nginx appended to X-Forwarded-For, 203.0.113.9 would be sealed.
    neighbour = ProxiedClient(proxy, "visitor", label="visitor@127.0.0.1")
    neighbour.source = LOOPBACK
    try:
        await neighbour.connect()
        second = await neighbour.start(place="33000", service=team.service)
        assert second["type"] == "started", second
    finally:
        await neighbour.close()
    records = unseal_all(rows, custodian, second["conversation"])
    assert [record["ip"] for record in records] == [LOOPBACK], records

    # Static files come from nginx itself, byte for byte.
    source = BASE_DIR / "frontend/static/chat/css"
    css = sorted(source.glob("*.css"))[0]
    response = await asyncio.to_thread(proxy.get, f"/static/chat/css/{css.name}")
    assert response.status == 200
    assert response.read() == css.read_bytes()
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")

    # Probes and pages through the upstreams; HTTPS known, no redirect loop.
    for path in ("/healthz", "/readyz"):
        probe = await asyncio.to_thread(proxy.get, path)
        assert probe.status == 200, (path, probe.read())
    page = await asyncio.to_thread(proxy.get, "/")
    assert page.status == 200
    assert page.headers["Strict-Transport-Security"] == "max-age=3600"
    assert "camera=()" in page.headers["Permissions-Policy"]

    # Plain HTTP is sent to HTTPS by nginx.
    assert await asyncio.to_thread(_plain_get, proxy.http_port) == 301

    # Neither nginx nor Daphne wrote an address down.
    logs = "".join(
        path.read_text(errors="replace")
        for path in [*proxy.root.glob("*.log"), *(d.stderr_path for d in daphnes)]
        if path.exists()
    )
    for address in (VISITOR_SOURCE, CLAIMED_ADDRESS):
        assert address not in logs


def unseal_all(rows: Any, custodian: Path, conversation: str) -> list[dict]:
    """Open every sealed record of ``conversation`` with the custodian key."""
    sealed = rows.connection.execute(
        "SELECT key_id, conversation_id::text AS conversation_id, sealed"
        " FROM anonymity_sealedconnection WHERE conversation_id = %s",
        (conversation,),
    ).fetchall()
    assert sealed, f"no sealed connection record for {conversation}"
    records = []
    for row in sealed:
        key = load_private_key(
            custodian / f"sealing-{row['key_id']}.key.pem", PASSPHRASE.encode()
        )
        records.append(
            unseal_ip_address(
                bytes(row["sealed"]),
                key_id=row["key_id"],
                conversation_id=row["conversation_id"],
                private_key=key,
            )
        )
    return records


def _plain_get(port: int) -> int:
    request = urllib.request.Request(f"http://{LOOPBACK}:{port}/")
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as error:
        return error.code


def test_shipped_file_never_appends_forwarded_for() -> None:
    """A cheap guard beside the run: the append form must never come back."""
    text = "\n".join(line.split("#", 1)[0] for line in SHIPPED.read_text().splitlines())
    assert "$proxy_add_x_forwarded_for" not in text
    assert re.search(r"proxy_set_header X-Forwarded-For \$remote_addr;", text)
    assert re.search(r"proxy_set_header X-Client-Port \$remote_port;", text)
    assert "access_log off;" in text
