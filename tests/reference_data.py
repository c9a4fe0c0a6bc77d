"""Real reference data for routing and directory tests.

``competence`` imports the whole commune → force table once per module
(like ``tests/chat/conftest.py`` does for communes). Socket tests run in
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

from chat.management.commands.import_competence import read_competences
from chat.models import Commune, CommuneCompetence, PostalCode


@pytest.fixture(scope="module")
def _committed_competence(
    _committed_communes: None, django_db_blocker
) -> Iterator[None]:
    """Import the competence table once per module, committed."""
    with django_db_blocker.unblock():
        imported = not CommuneCompetence.objects.exists()
        if imported:
            call_command("import_competence", verbosity=0)
    yield
    if imported:
        with django_db_blocker.unblock():
            CommuneCompetence.objects.all().delete()


@pytest.fixture
def competence(communes: None, _committed_competence: None, db: None) -> None:
    """Make the communes and the real competence table available."""
    if not CommuneCompetence.objects.exists():
        call_command("import_competence", verbosity=0)


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
