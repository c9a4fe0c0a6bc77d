"""Log lines and error reports never carry a client address."""

import logging

import pytest

from django.test import RequestFactory

from anonymity.logs import (
    AddressHidingReporterFilter,
    RedactAddressesFilter,
    redact_addresses,
)


@pytest.mark.parametrize(
    "text",
    [
        "peer 203.0.113.77 connected",
        "v6 2001:db8::ff00:42:8329 here",
        "mapped ::ffff:203.0.113.77 there",
        "full 2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        "loopback ::1 too",
    ],
)
def test_addresses_are_redacted(text):
    out = redact_addresses(text)
    assert "[address]" in out
    for fragment in ("203.0.113.77", "2001:db8", "8a2e", "::1 "):
        assert fragment not in out


def test_ordinary_text_is_kept():
    text = "queue position 3 at 12:30, version 4.2.3, seq 17"
    assert redact_addresses(text) == text


def test_filter_redacts_arguments_and_tracebacks():
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "from %s", ("203.0.113.77",), None
    )
    try:
        raise ValueError("bad peer 203.0.113.77")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    RedactAddressesFilter().filter(record)
    assert "203.0.113.77" not in record.getMessage()
    assert "203.0.113.77" not in record.exc_text


def test_error_reports_hide_addresses_and_fingerprints():
    request = RequestFactory().get(
        "/",
        REMOTE_ADDR="203.0.113.77",
        HTTP_X_FORWARDED_FOR="203.0.113.77",
        HTTP_USER_AGENT="Mozilla/5.0 fingerprint",
        HTTP_REFERER="https://x.example/",
    )
    meta = AddressHidingReporterFilter().get_safe_request_meta(request)
    text = str(meta)
    assert "203.0.113.77" not in text
    assert "fingerprint" not in text
    assert "x.example" not in text


def test_settings_use_the_hiding_filter(settings):
    assert (
        settings.DEFAULT_EXCEPTION_REPORTER_FILTER
        == "anonymity.logs.AddressHidingReporterFilter"
    )
    assert (
        "django.middleware.common.BrokenLinkEmailsMiddleware" not in settings.MIDDLEWARE
    )
    assert settings.ADMINS == []
