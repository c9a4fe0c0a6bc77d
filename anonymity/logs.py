"""Log and error-report hygiene: no client address leaves in a log line.

The first defence is structural: the address is removed from the ASGI
scope before anything downstream runs (``anonymity.middleware``) and
Daphne runs with ``-v 0`` (no access log). This module is the second: a
logging filter that redacts anything shaped like an IP address from every
record, traceback included, and an exception-report filter that hides
request fields carrying addresses or browser fingerprints (docs/security.md
§B7). It deliberately does not try to recognise message text or contact
details: those never reach a log call in this code base.
"""

import logging
import re

from django.views.debug import SafeExceptionReporterFilter

REDACTED = "[address]"

_OCTET = r"(?:25[0-5]|2[0-4]\d|1?\d?\d)"
_IPV4 = r"(?<![\d.])" + _OCTET + r"(?:\." + _OCTET + r"){3}(?![\d.])"
# Hex groups with at least two colons: covers full, compressed and
# IPv4-mapped forms; may also hide a harmless "a:b:c" now and then.
_IPV6 = (
    r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|" + _IPV4 + r")?(?![\w:])"
)
ADDRESS_PATTERN = re.compile(f"{_IPV4}|{_IPV6}")


def redact_addresses(text: str) -> str:
    return ADDRESS_PATTERN.sub(REDACTED, text)


class RedactAddressesFilter(logging.Filter):
    """Rewrite each record with every IP-shaped substring redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string still logs.
            message = str(record.msg)
        record.msg = redact_addresses(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_addresses(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_addresses(record.stack_info)
        return True


class AddressHidingReporterFilter(SafeExceptionReporterFilter):
    """Hide addresses, forwarding headers and fingerprints in error pages."""

    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|"
        "REMOTE_|FORWARDED|REAL_IP|CLIENT_|USER_AGENT|REFERER",
        flags=re.IGNORECASE,
    )

    def get_safe_request_meta(self, request):
        return {
            key: self.cleansed_substitute if self.hidden_settings.search(key) else value
            for key, value in request.META.items()
        }
