"""Every commune and every postal code of the reference data (issue 10).

The oracle is read straight from the CSV files (communes.csv,
postal_codes.csv, police_gendarmerie_competence.csv), not from the
database the code under test reads, so an import bug shows too.

Run at the service level (``check_start_request`` is everything
``start`` does before writing the conversation): one socket per commune
would take an hour.
"""

from __future__ import annotations

import csv
import functools
from collections import defaultdict
from pathlib import Path

import pytest

from django.conf import settings

from chat.errors import ChatError
from chat.models import Commune
from chat.services.conversations import check_start_request
from tests.factories import make_service
from tests.reference_data import (  # noqa: F401
    _committed_competence,
    competence,
)

CURRENT = {Commune.Kind.CURRENT, Commune.Kind.ARRONDISSEMENT}
FORMER = {Commune.Kind.DELEGATED, Commune.Kind.ASSOCIATED}
GROUP = "plateforme-vss"


def _rows(name: str) -> list[dict[str, str]]:
    path = Path(settings.DATA_DIR) / name
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@functools.cache
def reference() -> dict:
    """Current communes, former → parent, forces and postal codes, from CSV."""
    communes = _rows("communes.csv")
    current = {row["code_insee"]: row for row in communes if row["type"] in CURRENT}
    parent = {
        row["code_insee"]: row["code_commune_parente"]
        for row in communes
        if row["type"] in FORMER
        and row["code_commune_parente"] in current
        and row["code_insee"] not in current
    }
    forces = {
        row["code_insee"]: row["competence_retenue"]
        for row in _rows("police_gendarmerie_competence.csv")
    }
    by_postal_code: dict[str, set[str]] = defaultdict(set)
    for row in _rows("postal_codes.csv"):
        code = row["code_insee"]
        code = code if code in current else parent.get(code)
        if code is not None:
            by_postal_code[row["code_postal"]].add(code)
    return {
        "current": current,
        "parent": parent,
        "forces": forces,
        "postal_codes": dict(by_postal_code),
    }


def expected_queue(force: str) -> str:
    # A split commune goes to the police queue first; the operator confirms.
    return "national-gendarmerie" if force == "GN" else "national"


@pytest.fixture
def platform(competence: None) -> None:  # noqa: F811 - the imported fixture
    make_service(
        "national",
        name="Plateforme nationale — police",
        is_default=True,
        routing_group=GROUP,
        force="PN",
    )
    make_service(
        "national-gendarmerie",
        name="Plateforme nationale — gendarmerie",
        is_default=False,
        routing_group=GROUP,
        force="GN",
    )


def test_the_reference_data_is_whole() -> None:
    data = reference()
    assert len(data["current"]) > 35_000
    assert set(data["current"]) <= set(data["forces"])
    assert len(CHUNKS) > 95


# One test per department (the INSEE code's first two characters): each
# stays well under the per-test timeout even on a loaded machine.
CHUNKS = sorted({code[:2] for code in reference()["current"]})


@pytest.mark.django_db
@pytest.mark.parametrize("chunk", CHUNKS)
def test_every_commune_chosen_by_code_starts_there_with_its_force(
    platform: None, chunk: str
) -> None:
    data = reference()
    codes = [code for code in data["current"] if code.startswith(chunk)]
    assert codes
    wrong = []
    for code in codes:
        row = data["current"][code]
        start = check_start_request(place=None, role="victim", commune=code)
        force = data["forces"][code]
        got = (start.commune.code_insee, start.answering.service.slug)
        if got != (code, expected_queue(force)):
            wrong.append((code, row["nom"], got))
            continue
        if start.commune.name != row["nom"]:
            wrong.append((code, row["nom"], start.commune.name))
    assert wrong == [], f"{len(wrong)} communes misrouted, e.g. {wrong[:10]}"


@pytest.mark.django_db
def test_every_former_commune_code_starts_in_todays_commune(platform: None) -> None:
    data = reference()
    assert len(data["parent"]) > 1_000
    wrong = []
    for code, parent in data["parent"].items():
        start = check_start_request(place=None, role="victim", commune=code)
        if start.commune.code_insee != parent:
            wrong.append((code, parent, start.commune.code_insee))
    assert wrong == [], f"{len(wrong)} former communes misrouted: {wrong[:10]}"


@pytest.mark.django_db
def test_every_postal_code_resolves_or_lists_exactly_its_communes(
    platform: None,
) -> None:
    data = reference()
    current = data["current"]
    assert len(data["postal_codes"]) > 6_000
    wrong = []
    for postal_code, codes in data["postal_codes"].items():
        # A divided city's arrondissement is the precise answer, not the city.
        divided = {
            current[code]["code_commune_parente"]
            for code in codes
            if current[code]["type"] == Commune.Kind.ARRONDISSEMENT
        }
        expected = codes - divided
        try:
            start = check_start_request(place=postal_code, role="victim")
        except ChatError as error:
            if error.code != "ambiguous_place":
                wrong.append((postal_code, error.code))
                continue
            choices = error.extra["choices"]
            got = {choice["code_insee"] for choice in choices}
            if len(expected) < 2 or got != expected:
                wrong.append((postal_code, sorted(expected), sorted(got)))
            # Every choice renders whole: "Saint-Denis (93200, 93)".
            for choice in choices:
                row = current[choice["code_insee"]]
                if (choice["name"], choice["postal_code"], choice["department"]) != (
                    row["nom"],
                    postal_code,
                    row["departement"],
                ):
                    wrong.append((postal_code, choice))
            continue
        if {start.commune.code_insee} != expected:
            wrong.append((postal_code, sorted(expected), start.commune.code_insee))
        elif start.postal_code != postal_code:
            wrong.append((postal_code, start.postal_code))
    assert wrong == [], f"{len(wrong)} postal codes wrong, e.g. {wrong[:10]}"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("code", "name", "postal_code", "queue"),
    [
        # Each INSEE code is another commune's postal code (issue 10).
        ("59350", "Lille", "59000", "national"),
        ("63113", "Clermont-Ferrand", "63000", "national"),
        ("13001", "Aix-en-Provence", "13090", "national"),
        ("13004", "Arles", "13200", "national"),
    ],
)
def test_communes_whose_code_is_another_postal_code(
    platform: None, code: str, name: str, postal_code: str, queue: str
) -> None:
    start = check_start_request(place=None, role="victim", commune=code)
    assert start.commune.name == name
    assert start.answering.service.slug == queue
    from chat.places import render_commune

    shown = render_commune(start.commune, postal_code=start.postal_code)
    assert shown == {
        "code": code,
        "name": name,
        "postal_code": postal_code,
        "department": code[:2],
    }


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["", "abc", "99999", "2A999", 59350, ["59350"], "5935"])
def test_bad_commune_codes_are_refused(platform: None, bad: object) -> None:
    with pytest.raises(ChatError) as caught:
        check_start_request(place="Lille", role="victim", commune=bad)
    assert caught.value.code in ("bad_request", "invalid_place")
