"""Delete or crypto-shred expired data; keep the statistics' counts."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandParser

from retention.purge import do_purge_expired


class Command(BaseCommand):
    help = "Apply the retention periods (run daily)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--custodian-dir",
            help="also delete expired months' private key files from this folder",
        )

    def handle(self, *args: object, **options: object) -> None:
        folder = options["custodian_dir"]
        record = do_purge_expired(custodian_dir=Path(str(folder)) if folder else None)
        parts = ", ".join(f"{name} {count}" for name, count in record.counts.items())
        self.stdout.write(f"Purged: {parts}.")
        if record.destroyed_key_ids:
            self.stdout.write(
                "Sealing keys destroyed: " + ", ".join(record.destroyed_key_ids)
            )
