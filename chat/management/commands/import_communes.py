"""Load communes.csv and postal_codes.csv into Commune and PostalCode."""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from chat.management.bulk import insert_rows
from chat.models import Commune, PostalCode

BATCH_SIZE = 2000
COMMUNES_FILE = "communes.csv"
POSTAL_CODES_FILE = "postal_codes.csv"
COMMUNE_COLUMNS = {
    "code_insee",
    "nom",
    "nom_recherche",
    "type",
    "code_commune_parente",
    "departement",
    "nom_departement",
    "population",
}
POSTAL_CODE_COLUMNS = {"code_postal", "code_insee"}
UPDATE_FIELDS = [
    "name",
    "search_name",
    "parent_code",
    "department",
    "department_name",
    "population",
]
CURRENT_KINDS = (Commune.Kind.CURRENT, Commune.Kind.ARRONDISSEMENT)


class Command(BaseCommand):
    """Import the reference communes and postal codes (see data README)."""

    help = "Import communes.csv and postal_codes.csv from the reference data."

    def add_arguments(self, parser: CommandParser) -> None:
        """Declare --data-dir and --force."""
        parser.add_argument(
            "--data-dir",
            type=Path,
            default=None,
            help="Directory holding communes.csv and postal_codes.csv "
            "(default: settings.DATA_DIR).",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Reload even when communes are already imported.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Import the files, or say why nothing was done."""
        data_dir = Path(options["data_dir"] or settings.DATA_DIR)
        verbosity = options["verbosity"]
        # Check the files before touching the database, so a wrong path
        # fails the same way whether or not data is already loaded.
        communes_path = _require_file(data_dir, COMMUNES_FILE)
        postal_codes_path = _require_file(data_dir, POSTAL_CODES_FILE)

        existing = Commune.objects.count()
        if existing and not options["force"]:
            if verbosity:
                self.stdout.write(
                    f"Communes already imported ({existing}); use --force to reload."
                )
            return

        started = time.monotonic()
        communes = _read_communes(communes_path)
        pairs = _read_postal_codes(postal_codes_path)
        with transaction.atomic():
            insert_rows(
                Commune,
                communes,
                unique_fields=["code_insee", "kind"],
                update_fields=UPDATE_FIELDS,
            )
            postal_codes, missing = _postal_codes(pairs)
            PostalCode.objects.all().delete()
            insert_rows(PostalCode, postal_codes)
        elapsed = time.monotonic() - started

        if verbosity:
            if missing:
                self.stdout.write(
                    self.style.WARNING(
                        f"Skipped {missing} postal code pairs whose commune "
                        "is not in communes.csv."
                    )
                )
            stale = Commune.objects.count() - len(communes)
            if stale > 0:
                # Rows are kept: conversations may point at them.
                self.stdout.write(
                    self.style.WARNING(
                        f"{stale} communes in the database are no longer in "
                        f"{COMMUNES_FILE}; they were kept."
                    )
                )
            self.stdout.write(
                self.style.SUCCESS(
                    f"Imported {len(communes)} communes and {len(postal_codes)} "
                    f"postal codes in {elapsed:.1f}s."
                )
            )


def _require_file(data_dir: Path, name: str) -> Path:
    """Return ``data_dir / name``, or fail with a clear message."""
    if not data_dir.is_dir():
        raise CommandError(f"Data directory not found: {data_dir}")
    path = data_dir / name
    if not path.is_file():
        raise CommandError(f"{name} not found in {data_dir}")
    return path


def _rows(path: Path, columns: set[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row) from a CSV file with the given columns."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        absent = columns - set(reader.fieldnames or ())
        if absent:
            raise CommandError(
                f"{path.name} lacks the columns: {', '.join(sorted(absent))}"
            )
        for row in reader:
            yield reader.line_num, row


def _read_communes(path: Path) -> list[Commune]:
    """Return one unsaved Commune per (code, kind) of communes.csv."""
    kinds = set(Commune.Kind.values)
    communes: dict[tuple[str, str], Commune] = {}
    for line, row in _rows(path, COMMUNE_COLUMNS):
        kind = row["type"].strip()
        if kind not in kinds:
            raise CommandError(f"{path.name}:{line}: unknown type {kind!r}")
        population = row["population"].strip()
        if population and not population.isdigit():
            raise CommandError(f"{path.name}:{line}: bad population {population!r}")
        code = row["code_insee"].strip()
        # Keyed by (code, kind): one INSERT ... ON CONFLICT statement may not
        # touch the same row twice on PostgreSQL.
        communes[code, kind] = Commune(
            code_insee=code,
            kind=kind,
            name=row["nom"].strip(),
            search_name=row["nom_recherche"].strip(),
            parent_code=row["code_commune_parente"].strip(),
            department=row["departement"].strip(),
            department_name=row["nom_departement"].strip(),
            population=int(population) if population else None,
        )
    return list(communes.values())


def _read_postal_codes(path: Path) -> list[tuple[str, str, str]]:
    """Return the distinct (postal code, INSEE code, La Poste label) rows."""
    labels: dict[tuple[str, str], str] = {}
    for _, row in _rows(path, POSTAL_CODE_COLUMNS):
        pair = (row["code_postal"].strip(), row["code_insee"].strip())
        label = (row.get("libelle_acheminement") or "").strip()
        if not labels.get(pair):
            labels[pair] = label
    return sorted((code, insee, label) for (code, insee), label in labels.items())


def _postal_codes(
    pairs: list[tuple[str, str, str]],
) -> tuple[list[PostalCode], int]:
    """Return the PostalCode rows for ``pairs`` and how many were skipped.

    Each INSEE code maps to its current commune or arrondissement; an old
    code only known as a former commune maps to that commune's parent.
    """
    current: dict[str, int] = {}
    former_parent: dict[str, str] = {}
    rows = Commune.objects.values_list("id", "code_insee", "kind", "parent_code")
    for pk, code, kind, parent_code in rows.iterator(chunk_size=BATCH_SIZE):
        if kind in CURRENT_KINDS:
            current[code] = pk
        elif parent_code:
            former_parent[code] = parent_code

    seen: dict[tuple[str, int], str] = {}
    missing = 0
    for postal_code, code, label in pairs:
        pk = current.get(code) or current.get(former_parent.get(code, ""))
        if pk is None:
            missing += 1
        elif not seen.get((postal_code, pk)):
            seen[(postal_code, pk)] = label
    postal_codes = [
        PostalCode(code=code, commune_id=pk, label=label)
        for (code, pk), label in sorted(seen.items())
    ]
    return postal_codes, missing
