"""Sealing connection records: who can open them, and who cannot."""

import json
import uuid
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from django.conf import settings as django_settings

from anonymity.models import SealedConnection, SealingKey
from anonymity.sealing import (
    SUITE,
    SealingUnavailable,
    build_record,
    do_seal_connection,
    month_key_id,
    parse_client_address,
    sealing_info,
)
from anonymity.unsealing import unseal_ip_address
from tests.anonymity.conftest import private_key_for

pytestmark = pytest.mark.django_db

NOW = datetime.now(tz=UTC)


def test_sealed_record_opens_only_with_the_custodian_key(custodian_dir):
    conversation_id = "7a0c5a2e-5b0e-4a4e-9d7e-4f9c3f0d8e11"
    row = do_seal_connection(
        conversation_id, ip="203.0.113.77", port=51234, seen_at=NOW
    )
    key = private_key_for(custodian_dir, month_key_id(NOW))
    record = unseal_ip_address(
        row.sealed, key_id=row.key_id, conversation_id=conversation_id, private_key=key
    )
    assert record["ip"] == "203.0.113.77"
    assert record["port"] == 51234
    assert record["seen_at"].startswith(NOW.strftime("%Y-%m-%dT%H:%M"))
    # Moved to another conversation's row, it does not open.
    with pytest.raises(Exception):  # noqa: B017 - InvalidTag
        unseal_ip_address(
            row.sealed, key_id=row.key_id, conversation_id="other", private_key=key
        )


def test_the_web_tier_cannot_unseal(custodian_dir):
    """Nothing the web tier holds opens a record: no private key anywhere."""
    conversation_id = "c0ffee00-0000-4000-8000-000000000001"
    row = do_seal_connection(conversation_id, ip="203.0.113.77", port=1, seen_at=NOW)
    values = [
        str(getattr(django_settings, name))
        for name in dir(django_settings)
        if name.isupper()
    ]
    assert not any("PRIVATE KEY" in value for value in values)
    # The database holds public keys only (32-byte X25519 points in DER).
    for key in SealingKey.objects.all():
        assert len(bytes(key.public_key)) == 44
    # Any key the web tier could make up fails.
    for attempt in (
        X25519PrivateKey.generate(),
        X25519PrivateKey.from_private_bytes(django_settings.SECRET_KEY.encode()[:32]),
    ):
        with pytest.raises(Exception):  # noqa: B017 - InvalidTag
            SUITE.decrypt(
                bytes(row.sealed),
                attempt,
                info=sealing_info(row.key_id, conversation_id),
            )


def test_ipv4_and_ipv6_records_have_the_same_size(custodian_dir):
    v4 = do_seal_connection(str(uuid.uuid4()), ip="203.0.113.77", port=1, seen_at=NOW)
    v6 = do_seal_connection(
        str(uuid.uuid4()),
        ip="2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
        port=65535,
        seen_at=NOW,
    )
    assert len(bytes(v4.sealed)) == len(bytes(v6.sealed))
    assert len(build_record("1.2.3.4", None, NOW)) == len(build_record("::1", 1, NOW))


def test_sealed_rows_carry_their_retention_deadline(custodian_dir, settings):
    settings.RETENTION_SEALED_CONNECTION_DAYS = 365
    row = do_seal_connection(str(uuid.uuid4()), ip="203.0.113.77", port=1, seen_at=NOW)
    assert (row.expires_at - NOW).days == 365


def test_no_key_for_the_month_refuses_to_seal(db):
    with pytest.raises(SealingUnavailable):
        do_seal_connection(str(uuid.uuid4()), ip="203.0.113.77", port=1, seen_at=NOW)
    assert SealedConnection.objects.count() == 0


@pytest.mark.parametrize(
    ("peer", "headers", "expected"),
    [
        ("198.51.100.9", {b"x-forwarded-for": b"203.0.113.77"}, ("198.51.100.9", None)),
        (
            "127.0.0.1",
            {b"x-forwarded-for": b"203.0.113.77", b"x-client-port": b"4242"},
            ("203.0.113.77", 4242),
        ),
        (
            "127.0.0.1",
            {b"x-forwarded-for": b"6.6.6.6, 203.0.113.77"},
            ("203.0.113.77", None),
        ),
        (
            "127.0.0.1",
            {b"x-forwarded-for": b"203.0.113.77, 127.0.0.1"},
            ("203.0.113.77", None),
        ),
        ("127.0.0.1", {b"x-forwarded-for": b"not-an-ip"}, ("127.0.0.1", None)),
        (
            "127.0.0.1",
            {b"x-forwarded-for": b"203.0.113.77", b"x-client-port": b"99999"},
            ("203.0.113.77", None),
        ),
        ("127.0.0.1", {}, ("127.0.0.1", None)),
        (None, {b"x-forwarded-for": b"203.0.113.77"}, (None, None)),
    ],
)
def test_forwarding_headers_count_only_from_trusted_proxies(
    settings, peer, headers, expected
):
    settings.TRUSTED_PROXIES = ["127.0.0.0/8"]
    assert parse_client_address(peer, headers) == expected


def test_record_is_compact_json():
    record = json.loads(build_record("203.0.113.77", 5, NOW).rstrip(b" "))
    assert set(record) == {"ip", "port", "seen_at", "server"}
