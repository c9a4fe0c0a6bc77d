"""Check the whole audit trail and its signed checkpoints.

Exit status 0 when the chain holds, 1 when it does not, with the first
bad entry named (changed, deleted or moved rows).
"""

import sys

from django.core.management.base import BaseCommand, CommandParser

from escalation.audit import verify_chain, write_checkpoint


class Command(BaseCommand):
    help = "Verify the audit trail's HMAC chain and signed checkpoints."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--checkpoint",
            action="store_true",
            help="write a signed checkpoint of the head when the chain holds",
        )

    def handle(self, *args: object, **options: object) -> None:
        report = verify_chain()
        if not report.ok:
            where = f"entry #{report.first_bad}" if report.first_bad else "checkpoints"
            self.stderr.write(f"AUDIT CHAIN BROKEN at {where}: {report.problem}")
            self.stderr.write(f"{report.count} entries verified before the break.")
            sys.exit(1)
        if not report.macs_checked:
            self.stdout.write(
                "AUDIT_CHAIN_SEED is not set here: MACs NOT checked "
                "(order, links and checkpoints only)."
            )
        self.stdout.write(
            f"Audit chain OK: {report.count} entries, head #{report.head_seq} "
            f"{report.head_mac[:16]}…, {report.checkpoints} signed checkpoints agree."
        )
        if options["checkpoint"]:
            path = write_checkpoint()
            if path is not None:
                self.stdout.write(f"Wrote checkpoint {path}")
