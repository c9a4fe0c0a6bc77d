"""Open the contact details sealed to a unit in a delivered report.

The receiving unit's tool: it reads a report file (as dropped, attached
to the e-mail or posted to the webhook) and the unit's private key file
with its passphrase, and prints the details. Nothing is written.
"""

import base64
import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from django.core.management.base import BaseCommand, CommandError, CommandParser

from escalation.units import SUITE


class Command(BaseCommand):
    help = "Print the contact details of a report sealed to your unit's key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("report_file")
        parser.add_argument("--key-file", required=True)
        parser.add_argument("--passphrase-file", required=True)

    def handle(self, *args: object, **options: object) -> None:
        document = json.loads(Path(str(options["report_file"])).read_text())
        sealed = document.get("contact_sealed")
        if not sealed:
            raise CommandError("this report carries no sealed contact details")
        passphrase = Path(str(options["passphrase_file"])).read_bytes().strip()
        try:
            key = serialization.load_pem_private_key(
                Path(str(options["key_file"])).read_bytes(), password=passphrase
            )
        except (ValueError, TypeError):
            raise CommandError("wrong key file or passphrase") from None
        if not isinstance(key, X25519PrivateKey):
            raise CommandError("not an X25519 key")
        try:
            record = SUITE.decrypt(
                base64.b64decode(sealed["blob"]), key, info=sealed["info"].encode()
            )
        except Exception:  # noqa: BLE001 - any failure means: not for this key
            raise CommandError("these details were not sealed to this key") from None
        contact = json.loads(record.rstrip(b" "))
        self.stdout.write(f"Report {document['reference']}")
        for name, value in contact.items():
            self.stdout.write(f"  {name}: {value}")
