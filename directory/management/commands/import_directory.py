"""Seed the directory from the reference data, or import the project's CSV.

Without ``--csv``: add the missing entries of victim_support_annuaire_2019
.csv and national_helplines.json, all unverified (idempotent; entries
already there, verified or edited, are left alone). With ``--csv FILE``:
create or update entries from a file written by ``export_directory``.
"""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from directory.csvio import (
    ANNUAIRE_FILE,
    HELPLINES_FILE,
    do_import_resources,
    do_seed_directory,
)


class Command(BaseCommand):
    help = "Seed the support directory, or import a directory CSV (--csv)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data-dir", type=Path, default=None)
        parser.add_argument(
            "--csv", type=Path, default=None, help="A file from export_directory."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["csv"] is not None:
            path = options["csv"]
            if not path.is_file():
                raise CommandError(f"{path} not found")
            with path.open(encoding="utf-8", newline="") as handle:
                report = do_import_resources(handle)
            for error in report.errors or ():
                self.stderr.write(error)
        else:
            data_dir = Path(options["data_dir"] or settings.DATA_DIR)
            for name in (ANNUAIRE_FILE, HELPLINES_FILE):
                if not (data_dir / name).is_file():
                    raise CommandError(f"{name} not found in {data_dir}")
            report = do_seed_directory(data_dir)
        if options["verbosity"]:
            self.stdout.write(self.style.SUCCESS(f"Directory: {report}."))
