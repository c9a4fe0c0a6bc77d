"""Open the connection records of an approved disclosure request.

Run by a key custodian with the month's private key file and its
passphrase: refused unless the request is approved and unexpired. The
address, port and time are printed once with the request's reference,
and written to ``--out`` if given; they are stored nowhere else, and the
audit trail records the execution (not the address).
"""

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.errors import ChatError
from console.models import StaffProfile
from escalation.disclosure import check_execute
from escalation.models import DisclosureRequest


class Command(BaseCommand):
    help = "Execute an approved disclosure request with a custodian's key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("reference", help="the request's reference (REQ-…)")
        parser.add_argument("--custodian", required=True, help="your staff username")
        parser.add_argument("--key-file", required=True)
        parser.add_argument("--passphrase-file", required=True)
        parser.add_argument("--out", help="write the result as JSON to this file")

    def handle(self, *args: object, **options: object) -> None:
        user = get_user_model().objects.filter(username=options["custodian"]).first()
        profile = StaffProfile.objects.filter(user=user).first() if user else None
        if profile is None:
            raise CommandError("no such staff member")
        request = DisclosureRequest.objects.filter(
            reference=options["reference"]
        ).first()
        if request is None:
            raise CommandError("no such disclosure request")
        passphrase = Path(str(options["passphrase_file"])).read_bytes().strip()
        key_pem = Path(str(options["key_file"])).read_bytes()
        try:
            request, records = check_execute(
                profile, request.id, key_pem=key_pem, passphrase=passphrase
            )
        except ChatError as refusal:
            raise CommandError(f"refused ({refusal.code}): {refusal.message}") from None
        result = {
            "reference": request.reference,
            "parquet_reference": request.parquet_reference,
            "executed_at": request.executed_at.isoformat(),
            "records": [
                {k: r[k] for k in ("ip", "port", "seen_at", "server")} for r in records
            ],
        }
        self.stdout.write(
            f"Disclosure {request.reference} ({request.parquet_reference})"
        )
        for record in result["records"]:
            self.stdout.write(
                f"  {record['ip']} port {record['port']} at {record['seen_at']}"
            )
        if options["out"]:
            out = Path(str(options["out"]))
            out.touch(mode=0o600)
            out.write_text(json.dumps(result, indent=1))
