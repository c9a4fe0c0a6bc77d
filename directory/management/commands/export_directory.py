"""Write the whole directory as CSV (stdout, or ``--out FILE``)."""

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from directory.csvio import export_resources


class Command(BaseCommand):
    help = "Export the support directory as CSV (re-importable with --csv)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", type=Path, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["out"] is None:
            export_resources(sys.stdout)
            return
        with options["out"].open("w", encoding="utf-8", newline="") as handle:
            count = export_resources(handle)
        self.stderr.write(f"{count} entries written to {options['out']}.")
