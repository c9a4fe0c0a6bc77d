"""Demo data for the escalations: consent texts and local fake units.

Units of the demo deliver by file drop into ``var/unit-inbox/<unit>/``,
so a report can be followed end to end without any mail server; an
administrator switches a unit to e-mail or webhook in the admin. The
Bordeaux police unit has a key pair (``var/unit-keys/``): contact details
sent to it are sealed, and only ``open_report_contact`` with its key
file reads them.
"""

import base64
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from django.conf import settings

from chat.models import ConsentText, Service
from escalation.models import Unit

CONSENT_TEXTS = {
    "fr": (
        "J'accepte que l'opératrice ou l'opérateur transmette un signalement "
        "au commissariat ou à la brigade de gendarmerie compétent pour le lieu "
        "que j'ai indiqué. Ce signalement contient un résumé de ce que j'ai "
        "confié et les coordonnées que je choisis de donner, pour que l'on "
        "puisse me recontacter sans me mettre en danger. Une fois envoyé, il "
        "ne peut pas être rappelé. Je peux refuser : la conversation continue "
        "alors, anonyme."
    ),
    "en": (
        "I agree that the operator sends a report to the police station or "
        "gendarmerie unit competent for the place I gave. The report holds a "
        "summary of what I shared and the contact details I choose to give, "
        "so that they can reach me without putting me in danger. Once sent, "
        "it cannot be recalled. I may decline: the conversation then goes on, "
        "anonymous."
    ),
}

UNITS = [
    ("Commissariat central de Bordeaux (démo)", "PN", ["33063"], []),
    ("Brigade de gendarmerie de Mérignac (démo)", "GN", [], ["33"]),
    ("Commissariat du 11e arrondissement de Paris (démo)", "PN", [], ["75"]),
    ("Commissariat central de Lyon (démo)", "PN", ["69123"], ["69"]),
    ("Brigade de gendarmerie de Créteil (démo)", "GN", [], ["94"]),
]


def _ensure_unit_key(unit: Unit, folder: Path) -> None:
    """Give the first demo unit a key pair, as a unit would make its own.

    The private key goes to ``var/unit-keys/`` (demo only: a unit keeps it
    on its own machine); reports to this unit then carry the contact
    details sealed, opened with ``manage.py open_report_contact``.
    """
    if unit.public_key:
        return
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    passphrase_path = folder / "passphrase"
    if not passphrase_path.exists():
        passphrase_path.write_text(secrets.token_urlsafe(18))
        passphrase_path.chmod(0o600)
    private = X25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase_path.read_bytes().strip()),
    )
    key_path = folder / "unite-1.key.pem"  # the first demo unit
    key_path.touch(mode=0o600)
    key_path.write_bytes(pem)
    unit.public_key = base64.b64encode(
        private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    ).decode()
    unit.save(update_fields=["public_key"])


def ensure_demo_escalation(services: dict[str, Service]) -> list[Unit]:
    for service in services.values():
        for lang, text in CONSENT_TEXTS.items():
            ConsentText.objects.get_or_create(
                service=service, version="demo-1", lang=lang, defaults={"text": text}
            )
    inbox = Path(settings.BASE_DIR) / "var/unit-inbox"
    units = []
    for number, (name, force, communes, departments) in enumerate(UNITS, start=1):
        folder = inbox / f"unite-{number}"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        unit, _ = Unit.objects.update_or_create(
            name=name,
            defaults={
                "force": force,
                "communes": communes,
                "departments": departments,
                "method": Unit.Method.FILE,
                "address": str(folder),
            },
        )
        units.append(unit)
    _ensure_unit_key(units[0], Path(settings.BASE_DIR) / "var/unit-keys")
    return units
