"""Load police_gendarmerie_competence.csv into CommuneCompetence.

Idempotent: each run upserts the imported columns (official value, unit,
estimate, value retained and its source) and never touches an
administrator's override, which keeps winning (data README §4).
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from chat.management.bulk import insert_rows
from chat.models import CommuneCompetence

COMPETENCE_FILE = "police_gendarmerie_competence.csv"
BATCH_SIZE = 2000
COLUMNS = {
    "code_insee",
    "nom",
    "departement",
    "population",
    "competence_officielle",
    "service_officiel",
    "competence_estimee",
    "competence_retenue",
    "source_retenue",
}
UPDATE_FIELDS = [
    "name",
    "department",
    "population",
    "official_force",
    "official_unit",
    "estimated_force",
    "imported_force",
    "imported_source",
    "imported_at",
]
FORCES = set(CommuneCompetence.Force.values)
SOURCES = {CommuneCompetence.Source.OFFICIAL, CommuneCompetence.Source.ESTIMATE}


class Command(BaseCommand):
    """Import the commune → force table (see the data README §4)."""

    help = "Import police_gendarmerie_competence.csv from the reference data."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--data-dir",
            type=Path,
            default=None,
            help="Directory holding the CSV (default: settings.DATA_DIR).",
        )
        parser.add_argument(
            "--file",
            type=Path,
            default=None,
            help="Another file with the same columns (e.g. a newer export).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"] or (
            Path(options["data_dir"] or settings.DATA_DIR) / COMPETENCE_FILE
        )
        if not path.is_file():
            raise CommandError(f"{path} not found")
        started = time.monotonic()
        rows = read_competences(path)
        created, updated = do_import_competences(rows)
        elapsed = time.monotonic() - started
        if options["verbosity"]:
            estimated = sum(
                1
                for row in rows
                if row.imported_source == CommuneCompetence.Source.ESTIMATE
            )
            overrides = CommuneCompetence.objects.exclude(override_force="").count()
            self.stdout.write(
                self.style.SUCCESS(
                    f"Competence of {len(rows)} communes: {created} added, "
                    f"{updated} updated, {estimated} estimated, {overrides} "
                    f"overridden by an administrator (kept), in {elapsed:.1f}s."
                )
            )


@transaction.atomic
def do_import_competences(rows: list[CommuneCompetence]) -> tuple[int, int]:
    """Upsert the imported columns; return (created, updated) counts.

    Only rows whose imported values changed are written, so a re-run on
    the same file writes nothing. Overrides are never touched.
    """
    compared = [field for field in UPDATE_FIELDS if field != "imported_at"]
    existing = {
        values[0]: values[1:]
        for values in CommuneCompetence.objects.values_list("code_insee", *compared)
    }
    new, changed = [], []
    for row in rows:
        current = existing.get(row.code_insee)
        if current is None:
            new.append(row)
        elif current != tuple(getattr(row, field) for field in compared):
            changed.append(row)
    insert_rows(CommuneCompetence, new)
    for start in range(0, len(changed), BATCH_SIZE):
        CommuneCompetence.objects.bulk_create(
            changed[start : start + BATCH_SIZE],
            update_conflicts=True,
            unique_fields=["code_insee"],
            update_fields=UPDATE_FIELDS,
        )
    return len(new), len(changed)


def read_competences(path: Path) -> list[CommuneCompetence]:
    """Return one unsaved CommuneCompetence per row of the file."""
    now = timezone.now()
    found: dict[str, CommuneCompetence] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        absent = COLUMNS - set(reader.fieldnames or ())
        if absent:
            raise CommandError(
                f"{path.name} lacks the columns: {', '.join(sorted(absent))}"
            )
        for row in reader:
            line = reader.line_num
            retained = row["competence_retenue"].strip()
            estimated = row["competence_estimee"].strip()
            source = row["source_retenue"].strip()
            if retained not in FORCES or estimated not in FORCES:
                raise CommandError(f"{path.name}:{line}: unknown force {retained!r}")
            if source not in SOURCES:
                raise CommandError(f"{path.name}:{line}: unknown source {source!r}")
            population = row["population"].strip()
            code = row["code_insee"].strip()
            found[code] = CommuneCompetence(
                code_insee=code,
                name=row["nom"].strip()[:100],
                department=row["departement"].strip(),
                population=int(population) if population.isdigit() else None,
                official_force=row["competence_officielle"].strip(),
                official_unit=row["service_officiel"].strip()[:300],
                estimated_force=estimated,
                imported_force=retained,
                imported_source=source,
                imported_at=now,
            )
    return list(found.values())
