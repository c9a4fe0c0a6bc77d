"""Every commune and every postal code of the reference data (issue 10).

The oracle is read straight from the CSV files (communes.csv,
postal_codes.csv, police_gendarmerie_competence.csv), not from the
database the code under test reads, so an import bug shows too.

Run at the service level (``check_start_request`` is everything
``start`` does before writing the conversation): one socket per commune
would take an hour. Even one service call per code took a minute, so
every code is checked in one bulk pass against the stored rows the
service reads, and a sample of every department and kind of case goes
through the service end to end.
"""

from __future__ import annotations

import csv
import functools
from collections import defaultdict
from pathlib import Path

import pytest

from django.conf import settings

from chat.competence import competence_of
from chat.errors import ChatError
from chat.models import Commune, CommuneCompetence, PostalCode
from chat.places import (
    _INSEE_CODE,
    CURRENT_KINDS,
    FORMER_KINDS,
    _drop_divided_parents,
)
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
    assert len({code[:2] for code in data["current"]}) > 95


@pytest.fixture(scope="module")
def stored(_committed_communes: None, django_db_blocker) -> dict[str, list[Commune]]:
    """Every committed commune row, by INSEE code, read once per module."""
    by_code: dict[str, list[Commune]] = defaultdict(list)
    with django_db_blocker.unblock():
        for commune in Commune.objects.all():
            by_code[commune.code_insee].append(commune)
    return by_code


def sample(codes: list[str], *, keys: dict[str, tuple]) -> list[str]:
    """The first and last code of each department, and the first of each key.

    Every code of the data is checked in bulk against what the service
    reads; this sample goes through the service itself, one call each,
    for every department and every kind of case ``keys`` tells apart.
    """
    picked: dict[tuple, str] = {}
    for code in sorted(codes):
        department = code[:2]
        picked.setdefault(("first", department), code)
        picked[("last", department)] = code
        picked.setdefault((department, *keys.get(code, ())), code)
    return sorted(set(picked.values()))


def check_commune_code(code: str, name: str, force: str) -> list[tuple]:
    """Start from ``code`` through the service; return what went wrong."""
    start = check_start_request(place=None, role="victim", commune=code)
    got = (start.commune.code_insee, start.answering.service.slug)
    if got != (code, expected_queue(force)):
        return [(code, name, got)]
    if start.commune.name != name:
        return [(code, name, start.commune.name)]
    return []


@pytest.mark.django_db
def test_every_commune_chosen_by_code_starts_there_with_its_force(
    platform: None, stored: dict[str, list[Commune]]
) -> None:
    """Every current commune, in one bulk pass, then a sample end to end.

    The service resolves a code with ``_communes_by_insee_code`` (the one
    current row of that code) and routes on the force in effect of the
    commune's competence row. The bulk pass checks, for every code of the
    CSV, those inputs and the real ``competence_of``; the queue each force
    leads to comes from real starts, and a sample of every department,
    kind and force starts end to end. One ``check_start_request`` per
    commune (35,000) took a minute.
    """
    data = reference()
    by_code = stored
    in_effect = {
        row.code_insee: competence_of(row).force
        for row in CommuneCompetence.objects.all()
    }
    wrong: list[tuple] = []
    queue_of: dict[str, str] = {}
    for code, row in data["current"].items():
        force = data["forces"][code]
        current = [c for c in by_code.get(code, []) if c.kind in CURRENT_KINDS]
        if not _INSEE_CODE.fullmatch(code) or len(current) != 1:
            wrong.append((code, row["nom"], [c.kind for c in current]))
        elif (current[0].name, current[0].kind) != (row["nom"], row["type"]):
            wrong.append((code, row["nom"], current[0].name, current[0].kind))
        elif in_effect.get(code) != force:
            wrong.append((code, row["nom"], in_effect.get(code), force))
        elif force not in queue_of:
            start = check_start_request(place=None, role="victim", commune=code)
            queue_of[force] = start.answering.service.slug
    assert wrong == [], f"{len(wrong)} communes stored wrong, e.g. {wrong[:10]}"
    # The queue of each force, as real starts routed it.
    assert queue_of == {force: expected_queue(force) for force in queue_of}
    assert set(queue_of) >= {"PN", "GN"}

    keys = {
        code: (row["type"], data["forces"][code])
        for code, row in data["current"].items()
    }
    for code in sample(list(data["current"]), keys=keys):
        row = data["current"][code]
        wrong += check_commune_code(code, row["nom"], data["forces"][code])
    assert wrong == [], f"{len(wrong)} communes misrouted, e.g. {wrong[:10]}"


@pytest.mark.django_db
def test_every_former_commune_code_starts_in_todays_commune(
    platform: None, stored: dict[str, list[Commune]]
) -> None:
    """Every former code in bulk (what the service reads), a sample end to end."""
    data = reference()
    assert len(data["parent"]) > 1_000
    by_code = stored
    wrong = []
    for code, parent in data["parent"].items():
        rows = by_code.get(code, [])
        # No current row of that code: the service maps the former rows
        # to their parents, current communes only (``_parents_of``).
        parents = {c.parent_code for c in rows if c.kind in FORMER_KINDS}
        if any(c.kind in CURRENT_KINDS for c in rows) or parents != {parent}:
            wrong.append((code, parent, [(c.kind, c.parent_code) for c in rows]))
        elif [c.kind for c in by_code.get(parent, [])].count(Commune.Kind.CURRENT) != 1:
            wrong.append((code, parent, "no current parent"))
    assert wrong == [], f"{len(wrong)} former communes stored wrong: {wrong[:10]}"

    keys = {code: (by_code[code][0].kind,) for code in data["parent"]}
    for code in sample(list(data["parent"]), keys=keys):
        parent = data["parent"][code]
        start = check_start_request(place=None, role="victim", commune=code)
        if start.commune.code_insee != parent:
            wrong.append((code, parent, start.commune.code_insee))
    assert wrong == [], f"{len(wrong)} former communes misrouted: {wrong[:10]}"


def expected_communes(codes: set[str]) -> set[str]:
    # A divided city's arrondissement is the precise answer, not the city.
    current = reference()["current"]
    divided = {
        current[code]["code_commune_parente"]
        for code in codes
        if current[code]["type"] == Commune.Kind.ARRONDISSEMENT
    }
    return codes - divided


def check_postal_code(postal_code: str, expected: set[str]) -> list[tuple]:
    """Start from ``postal_code`` through the service; return what went wrong."""
    current = reference()["current"]
    wrong: list[tuple] = []
    try:
        start = check_start_request(place=postal_code, role="victim")
    except ChatError as error:
        if error.code != "ambiguous_place":
            return [(postal_code, error.code)]
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
        return wrong
    if {start.commune.code_insee} != expected:
        wrong.append((postal_code, sorted(expected), start.commune.code_insee))
    elif start.postal_code != postal_code:
        wrong.append((postal_code, start.postal_code))
    return wrong


@pytest.mark.django_db
def test_every_postal_code_resolves_or_lists_exactly_its_communes(
    platform: None, stored: dict[str, list[Commune]]
) -> None:
    """Every postal code in bulk (the real ``_drop_divided_parents`` over the
    stored pairs), then a sample of each department end to end: single,
    shared and divided-city codes."""
    data = reference()
    assert len(data["postal_codes"]) > 6_000
    by_id = {c.pk: c for rows in stored.values() for c in rows}
    stored: dict[str, list[Commune]] = defaultdict(list)
    for postal_code, commune_id in PostalCode.objects.values_list("code", "commune"):
        if by_id[commune_id].kind in CURRENT_KINDS:
            stored[postal_code].append(by_id[commune_id])
    wrong: list[tuple] = []
    for postal_code, codes in data["postal_codes"].items():
        expected = expected_communes(codes)
        got = {c.code_insee for c in _drop_divided_parents(stored[postal_code])}
        if got != expected:
            wrong.append((postal_code, sorted(expected), sorted(got)))
    assert set(stored) == set(data["postal_codes"])
    assert wrong == [], f"{len(wrong)} postal codes stored wrong, e.g. {wrong[:10]}"

    keys = {
        postal_code: (min(len(codes), 2), len(expected_communes(codes)) < len(codes))
        for postal_code, codes in data["postal_codes"].items()
    }
    for postal_code in sample(list(data["postal_codes"]), keys=keys):
        expected = expected_communes(data["postal_codes"][postal_code])
        wrong += check_postal_code(postal_code, expected)
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
