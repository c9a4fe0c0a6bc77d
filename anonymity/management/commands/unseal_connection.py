"""Open one sealed connection record: run by key custodians, not the web.

This needs the month's private key file and its passphrase, which only
custodians hold. The prosecutor-approved disclosure flow (escalation)
will wrap this with its approvals and audit trail; until then this
command is the custodians' tool and refuses to run without both files.
"""

from pathlib import Path

from cryptography.exceptions import InvalidTag

from django.core.management.base import BaseCommand, CommandError, CommandParser

from anonymity.models import SealedConnection
from anonymity.unsealing import load_private_key, unseal_ip_address


class Command(BaseCommand):
    help = "Unseal a connection record with a custodian's private key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("record_id", type=int)
        parser.add_argument("--key-file", required=True)
        parser.add_argument("--passphrase-file", required=True)

    def handle(self, *args: object, **options: object) -> None:
        row = SealedConnection.objects.filter(id=options["record_id"]).first()
        if row is None:
            raise CommandError("no such sealed record")
        passphrase = Path(str(options["passphrase_file"])).read_text().strip()
        try:
            key = load_private_key(Path(str(options["key_file"])), passphrase.encode())
        except (ValueError, TypeError):
            raise CommandError(
                "could not open the key file: wrong passphrase or not a sealing key"
            ) from None
        try:
            record = unseal_ip_address(
                row.sealed,
                key_id=row.key_id,
                conversation_id=str(row.conversation_id),
                private_key=key,
            )
        except (InvalidTag, ValueError, KeyError):
            # One clear line, no traceback: the record was tampered with,
            # moved to another row, or this is another month's key.
            raise CommandError(
                f"sealed record {row.id} failed authentication: tampered, moved "
                f"or not sealed to this key (month {row.key_id})"
            ) from None
        self.stdout.write(
            f"{record['ip']} port {record['port']} at {record['seen_at']}"
        )
