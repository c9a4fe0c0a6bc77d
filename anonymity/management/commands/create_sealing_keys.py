"""Create monthly sealing key pairs for the key custodians.

Each private key goes straight into a passphrase-protected PKCS#8 file
(``<out>/sealing-YYYY-MM.key.pem``) and never into settings or the
database; each public key is written beside it and, with ``--install``,
stored in the database for the web tier. In production this runs on the
custodians' workstation and only the public key files travel to the web
tier (``--install-public FILE``).
"""

import secrets
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from django.core.management.base import BaseCommand, CommandError, CommandParser

from anonymity.models import SealingKey


def add_months(year: int, month: int, count: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + count
    return index // 12, index % 12 + 1


class Command(BaseCommand):
    help = "Create sealing key pairs for this month and the next ones."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", required=False, help="custodian directory")
        parser.add_argument("--months", type=int, default=2)
        parser.add_argument(
            "--passphrase-file",
            help="file holding the passphrase (created with a random one if absent)",
        )
        parser.add_argument("--install", action="store_true")
        parser.add_argument(
            "--install-public", metavar="FILE", help="store one public key file"
        )

    def handle(self, *args: object, **options: object) -> None:
        if options["install_public"]:
            self.install_public(Path(str(options["install_public"])))
            return
        if not options["out"] or not options["passphrase_file"]:
            raise CommandError("--out and --passphrase-file are required")
        out = Path(str(options["out"]))
        out.mkdir(parents=True, exist_ok=True, mode=0o700)
        passphrase = self.read_passphrase(Path(str(options["passphrase_file"])))
        now = datetime.now(tz=UTC)
        for offset in range(int(options["months"])):
            year, month = add_months(now.year, now.month, offset)
            key_id = f"{year:04d}-{month:02d}"
            private_path = out / f"sealing-{key_id}.key.pem"
            public_path = out / f"sealing-{key_id}.pub.der"
            if not private_path.exists():
                self.write_pair(private_path, public_path, passphrase)
                self.stdout.write(f"Created sealing key {key_id} in {out}")
            if options["install"]:
                self.install_public(public_path)

    def read_passphrase(self, path: Path) -> bytes:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(24))
            path.chmod(0o600)
        passphrase = path.read_text().strip().encode()
        if len(passphrase) < 12:
            raise CommandError("the passphrase must have at least 12 characters")
        return passphrase

    def write_pair(
        self, private_path: Path, public_path: Path, passphrase: bytes
    ) -> None:
        key = X25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        )
        private_path.touch(mode=0o600)
        private_path.write_bytes(pem)
        public_path.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.DER,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            )
        )

    def install_public(self, path: Path) -> None:
        key_id = path.name.removeprefix("sealing-").removesuffix(".pub.der")
        if len(key_id) != 7:
            raise CommandError(f"{path.name}: expected sealing-YYYY-MM.pub.der")
        public = path.read_bytes()
        serialization.load_der_public_key(public)  # refuses anything else
        _, created = SealingKey.objects.get_or_create(
            key_id=key_id, defaults={"public_key": public}
        )
        if created:
            self.stdout.write(f"Installed sealing public key {key_id}")
