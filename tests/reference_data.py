"""Real reference data for routing and directory tests.

The management commands import the reference tables once per test
session; ``restore_reference`` then copies their rows back from memory in
well under a second, so ``competence`` (like ``tests/chat/conftest.py``
for communes) can commit the tables per module and empty them after it,
and tests elsewhere still start from empty tables. Socket tests run in
``transaction=True`` mode, which empties every table after each test, so
they use ``load_real_places`` instead: the real rows of a few communes
(communes.csv, postal_codes.csv, police_gendarmerie_competence.csv), in
milliseconds.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

from django.conf import settings
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import connection, models, transaction

from chat.management.commands.import_competence import read_competences
from chat.models import Commune, CommuneCompetence, PostalCode

COMMUNE_TABLES = (Commune, PostalCode)
COMPETENCE_TABLES = (CommuneCompetence,)

# The imported rows of each table, by model: (columns, rows).
_snapshots: dict[type[models.Model], tuple[list[str], list[tuple]]] = {}


def _dump(model: type[models.Model]) -> tuple[list[str], list[tuple]]:
    columns = [field.column for field in model._meta.concrete_fields]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT {} FROM {}".format(  # noqa: S608 - names from the model
                ", ".join(connection.ops.quote_name(c) for c in columns),
                connection.ops.quote_name(model._meta.db_table),
            )
        )
        return columns, cursor.fetchall()


def restore_reference(command: str, tables: tuple[type[models.Model], ...]) -> bool:
    """Fill ``tables`` with the reference rows ``command`` imports.

    The first call of a session runs the real import and keeps its rows;
    later calls insert those rows again with their ids, about twenty times
    faster than importing. Does nothing (and returns False) when the first
    table already has rows.
    """
    if tables[0].objects.exists():
        return False
    if tables[0] not in _snapshots:
        call_command(command, verbosity=0)
        for model in tables:
            _snapshots[model] = _dump(model)
        return True
    with transaction.atomic(), connection.cursor() as cursor:
        for model in tables:
            columns, rows = _snapshots[model]
            cursor.executemany(
                "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608
                    connection.ops.quote_name(model._meta.db_table),
                    ", ".join(connection.ops.quote_name(c) for c in columns),
                    ", ".join(["%s"] * len(columns)),
                ),
                rows,
            )
        for sql in connection.ops.sequence_reset_sql(no_style(), list(tables)):
            cursor.execute(sql)
    return True


def empty_reference(tables: tuple[type[models.Model], ...]) -> None:
    """Delete every row of ``tables``, referencing tables first.

    Plain ``DELETE``s: the committed reference rows are referenced by no
    committed row, so Django's cascade collection (seconds for 80,000
    rows) has nothing to find.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        for model in reversed(tables):
            table = connection.ops.quote_name(model._meta.db_table)
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608


@pytest.fixture(scope="module")
def _committed_competence(
    _committed_communes: None, django_db_blocker
) -> Iterator[None]:
    """Commit the competence table for this module, empty it after."""
    with django_db_blocker.unblock():
        filled = restore_reference("import_competence", COMPETENCE_TABLES)
    yield
    if filled:
        with django_db_blocker.unblock():
            empty_reference(COMPETENCE_TABLES)


@pytest.fixture
def competence(communes: None, _committed_competence: None, db: None) -> None:
    """Make the communes and the real competence table available."""
    restore_reference("import_competence", COMPETENCE_TABLES)


def _data(name: str) -> Path:
    return Path(settings.DATA_DIR) / name


@functools.cache
def _commune_rows() -> tuple[dict[str, str], ...]:
    with _data("communes.csv").open(encoding="utf-8", newline="") as handle:
        return tuple(csv.DictReader(handle))


@functools.cache
def _postal_pairs() -> tuple[tuple[str, str, str], ...]:
    with _data("postal_codes.csv").open(encoding="utf-8", newline="") as handle:
        return tuple(
            (row["code_postal"], row["code_insee"], row["libelle_acheminement"])
            for row in csv.DictReader(handle)
        )


@functools.cache
def _competence_rows() -> dict[str, dict]:
    rows = read_competences(_data("police_gendarmerie_competence.csv"))
    return {
        row.code_insee: {
            field.attname: getattr(row, field.attname)
            for field in CommuneCompetence._meta.concrete_fields
            if field.attname != "id"
        }
        for row in rows
    }


def load_real_places(*codes: str) -> dict[str, Commune]:
    """Create the real rows of the current communes ``codes``.

    Also their former (delegated, associated) communes, their postal codes
    and their competence. Returns the current communes by INSEE code.
    """
    wanted = set(codes)
    created: dict[str, Commune] = {}
    for row in _commune_rows():
        current = row["code_insee"] in wanted and row["type"] in (
            Commune.Kind.CURRENT,
            Commune.Kind.ARRONDISSEMENT,
        )
        former = row["code_commune_parente"] in wanted and row["type"] in (
            Commune.Kind.DELEGATED,
            Commune.Kind.ASSOCIATED,
        )
        if not (current or former):
            continue
        commune, _ = Commune.objects.get_or_create(
            code_insee=row["code_insee"],
            kind=row["type"],
            defaults={
                "name": row["nom"],
                "search_name": row["nom_recherche"],
                "parent_code": row["code_commune_parente"],
                "department": row["departement"],
                "department_name": row["nom_departement"],
                "population": int(row["population"]) if row["population"] else None,
            },
        )
        if current:
            created[commune.code_insee] = commune
    for postal_code, code, label in _postal_pairs():
        if code in created:
            row, _ = PostalCode.objects.get_or_create(
                code=postal_code, commune=created[code], defaults={"label": label}
            )
            if label and not row.label:
                row.label = label
                row.save(update_fields=["label"])
    for code in created:
        values = _competence_rows().get(code)
        if values is not None:
            CommuneCompetence.objects.get_or_create(code_insee=code, defaults=values)
    return created
