"""Give a partner association a key pair for sealed callback requests.

The public key goes into the directory entry; the private key is written,
protected by a passphrase, to a file for the association's staff (mode
0600). The platform keeps no copy: lose the file or the passphrase and the
pending requests sealed to it can no longer be read.
"""

import getpass
import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from directory.models import Resource
from directory.services import do_create_partner_key


class Command(BaseCommand):
    help = "Create the X25519 key pair of a callback partner association."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("resource", help="The directory entry's id.")
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument(
            "--passphrase-env",
            default=None,
            help="Read the passphrase from this environment variable "
            "(default: ask on the terminal).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        resource = Resource.objects.filter(id=options["resource"]).first()
        if resource is None:
            raise CommandError("no such directory entry")
        if options["passphrase_env"]:
            passphrase = os.environ.get(options["passphrase_env"], "")
        else:
            passphrase = getpass.getpass("Passphrase (12 characters or more): ")
        if len(passphrase) < 12:
            raise CommandError("the passphrase must have at least 12 characters")
        out: Path = options["out"]
        if out.exists():
            raise CommandError(f"{out} exists; refusing to overwrite a key")
        # The public key is kept only if the private key file was written.
        with transaction.atomic():
            pem = do_create_partner_key(resource, passphrase=passphrase.encode())
            out.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
        self.stdout.write(
            f"Key {resource.key_fingerprint} of «{resource.name}» written to {out}."
        )
