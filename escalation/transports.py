"""How a report reaches a unit: e-mail, signed HTTPS webhook, file drop.

A transport takes the report's document (a dict) and either delivers it
or raises ``DeliveryError``; retries, backoff and states are the outbox's
business (``escalation.reports``). Adding a way of delivering means adding
a class here and an entry in ``TRANSPORTS`` and ``Unit.Method``.

The webhook body is signed: ``X-Ecoute-Signature: sha256=<hex>`` is
HMAC-SHA256 under the unit's shared secret of ``<timestamp>.<body>``, with
the timestamp in ``X-Ecoute-Timestamp``; ``Idempotency-Key`` lets the
receiver drop a resend (delivery is at least once).
"""

import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.utils.translation import gettext as _
from django.utils.translation import override

from escalation.models import Delivery


class DeliveryError(Exception):
    """The unit did not receive the report this time; try again later."""


class Transport(Protocol):
    def send(self, delivery: Delivery, document: dict[str, Any], secret: str) -> None:
        """Deliver ``document`` to ``delivery.target`` or raise DeliveryError."""


def report_body(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True).encode()


def report_text(document: dict[str, Any]) -> str:
    """The e-mail's readable body, in French (the units' language)."""
    with override("fr"):
        lines = [
            _("Signalement transmis par la plateforme Écoute"),
            "",
            f"{_('Référence')} : {document['reference']}",
            f"{_('Unité destinataire')} : {document['unit']['name']}",
            f"{_('Urgence')} : {document['urgency_label']}",
            f"{_('Catégorie')} : {document['category_label']}",
            f"{_('Lieu indiqué')} : {document['place']}",
            f"{_('La personne est')} : {document['visitor_role']}",
            "",
            _("Résumé des faits"),
            document["summary"],
            "",
            _("Consentement"),
            f"{_('Donné le')} {document['consent']['answered_at']} "
            f"({_('texte')} {document['consent']['text_version']}, "
            f"SHA-256 {document['consent']['text_sha256']})",
            "",
        ]
        contact = document.get("contact")
        if contact:
            lines.append(_("Coordonnées données par la personne"))
            lines += [f"{name} : {value}" for name, value in contact.items()]
        else:
            lines.append(
                _(
                    "Coordonnées chiffrées pour votre unité : voir la pièce jointe "
                    "(champ contact_sealed), à ouvrir avec la clé privée de l'unité."
                )
            )
        lines += ["", _("Le rapport complet est joint au format JSON.")]
    return "\n".join(lines)


class EmailTransport:
    """Django's mail framework over SMTP (``EMAIL_*`` settings)."""

    def send(self, delivery: Delivery, document: dict[str, Any], secret: str) -> None:
        reference = document["reference"]
        message = EmailMessage(
            subject=f"[Écoute] Signalement {reference} ({document['urgency']})",
            body=report_text(document),
            from_email=settings.REPORT_SENDER,
            to=[delivery.target],
            headers={"X-Ecoute-Reference": reference},
            connection=get_connection(fail_silently=False),
        )
        message.attach(
            f"signalement-{reference}.json", report_body(document), "application/json"
        )
        try:
            message.send()
        except (OSError, ValueError) as error:
            raise DeliveryError(f"smtp: {type(error).__name__}: {error}") from None


def sign_webhook(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


class WebhookTransport:
    """POST the JSON report, signed with HMAC-SHA256, to the unit's URL."""

    def send(self, delivery: Delivery, document: dict[str, Any], secret: str) -> None:
        url = delivery.target
        scheme = urlsplit(url).scheme
        if scheme != "https" and not (
            scheme == "http" and settings.REPORT_WEBHOOK_ALLOW_HTTP
        ):
            raise DeliveryError("webhook: only https URLs are allowed")
        if not secret:
            raise DeliveryError("webhook: the unit has no signing secret")
        body = report_body(document)
        timestamp = str(int(time.time()))
        request = urllib.request.Request(  # noqa: S310 - scheme checked above
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Ecoute-report/1",
                "X-Ecoute-Reference": document["reference"],
                "X-Ecoute-Timestamp": timestamp,
                "X-Ecoute-Signature": sign_webhook(secret, timestamp, body),
                "Idempotency-Key": f"delivery-{delivery.id}",
            },
        )
        try:
            with urllib.request.urlopen(  # noqa: S310
                request, timeout=settings.REPORT_WEBHOOK_TIMEOUT_SECONDS
            ) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            raise DeliveryError(f"webhook: HTTP {error.code}") from None
        except (OSError, ValueError) as error:
            raise DeliveryError(f"webhook: {type(error).__name__}: {error}") from None
        if not 200 <= status < 300:
            raise DeliveryError(f"webhook: HTTP {status}")


class FileTransport:
    """Write the JSON report into the unit's drop folder, atomically."""

    def send(self, delivery: Delivery, document: dict[str, Any], secret: str) -> None:
        folder = Path(delivery.target)
        path = folder / f"signalement-{document['reference']}.json"
        temporary = folder / f".{path.name}.tmp"
        try:
            if not folder.is_dir():
                raise DeliveryError("file: the drop folder does not exist")
            descriptor = os.open(
                temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600
            )
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(report_body(document))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except OSError as error:
            raise DeliveryError(f"file: {type(error).__name__}") from None


TRANSPORTS: dict[str, Transport] = {
    "email": EmailTransport(),
    "webhook": WebhookTransport(),
    "file": FileTransport(),
}
