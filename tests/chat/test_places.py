"""Place resolution, autocomplete and the communes import, on the real data."""

import csv
from io import StringIO
from pathlib import Path

import pytest

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from chat.models import Commune, PostalCode
from chat.places import (
    PlaceChoice,
    normalize_place_name,
    resolve_place,
    search_communes,
)

COMMUNE_ROWS = 37590
POSTAL_CODE_PAIRS = 35858


# normalize_place_name


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("St-Étienne", "saint etienne"),
        ("ste-foy-lès-lyon", "sainte foy les lyon"),
        ("Saint-Martin-de-St-Maixent", "saint martin de saint maixent"),
        ("Œuilly", "oeuilly"),
        ("Cœuvres-et-Valsery", "coeuvres et valsery"),
        ("L'Haÿ-les-Roses", "l hay les roses"),
        ("  ÉVRY -- Courcouronnes  ", "evry courcouronnes"),
        ("Paris 11e Arrondissement", "paris 11e arrondissement"),
        ("Strasbourg", "strasbourg"),
        ("", ""),
        ("東京", ""),
    ],
)
def test_normalize_place_name(text: str, expected: str) -> None:
    assert normalize_place_name(text) == expected


def test_normalize_matches_every_search_name_of_the_data() -> None:
    path = Path(settings.DATA_DIR) / "communes.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == COMMUNE_ROWS
    mismatches = [
        (row["nom"], row["nom_recherche"])
        for row in rows
        if normalize_place_name(row["nom"]) != row["nom_recherche"]
    ]
    assert mismatches == []


def test_place_choice_as_dict() -> None:
    choice = PlaceChoice(
        code_insee="33063", name="Bordeaux", postal_code="33000", department="33"
    )
    assert choice.as_dict() == {
        "code_insee": "33063",
        "name": "Bordeaux",
        "postal_code": "33000",
        "department": "33",
    }


# resolve_place: postal codes


@pytest.mark.django_db
def test_postal_code_with_one_commune(communes: None) -> None:
    result = resolve_place("33000")
    assert result.commune is not None
    assert result.commune.code_insee == "33063"
    assert result.commune.name == "Bordeaux"
    assert result.postal_code == "33000"
    assert result.choices == []


@pytest.mark.django_db
def test_postal_code_shared_by_several_communes(communes: None) -> None:
    result = resolve_place(" 01000 ")
    assert result.commune is None
    assert result.postal_code == "01000"
    codes = [choice.code_insee for choice in result.choices]
    assert codes == ["01053", "01344"]  # sorted by name
    assert [choice.name for choice in result.choices] == [
        "Bourg-en-Bresse",
        "Saint-Denis-lès-Bourg",
    ]
    assert {choice.postal_code for choice in result.choices} == {"01000"}
    assert {choice.department for choice in result.choices} == {"01"}


@pytest.mark.django_db
def test_paris_postal_code_resolves_to_the_arrondissement(communes: None) -> None:
    # La Poste also lists 75011 under Paris itself; the arrondissement wins.
    result = resolve_place("75011")
    assert result.commune is not None
    assert result.commune.code_insee == "75111"
    assert result.commune.kind == Commune.Kind.ARRONDISSEMENT
    assert result.postal_code == "75011"


@pytest.mark.django_db
def test_postal_code_and_name(communes: None) -> None:
    result = resolve_place("01000 Bourg-en-Bresse")
    assert result.commune is not None
    assert result.commune.code_insee == "01053"
    assert result.postal_code == "01000"

    result = resolve_place("saint denis les bourg (01000)")
    assert result.commune is not None
    assert result.commune.code_insee == "01344"

    result = resolve_place("75011 Paris")
    assert result.commune is not None
    assert result.commune.code_insee == "75111"


@pytest.mark.django_db
def test_postal_code_and_name_that_disagree_offer_choices(communes: None) -> None:
    result = resolve_place("33000 Lyon")
    assert result.commune is None
    assert [choice.code_insee for choice in result.choices] == ["33063"]


# resolve_place: INSEE codes


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "code", "name"),
    [
        ("33063", "33063", "Bordeaux"),
        ("2A004", "2A004", "Ajaccio"),
        ("2b033", "2B033", "Bastia"),
    ],
)
def test_insee_code(communes: None, text: str, code: str, name: str) -> None:
    result = resolve_place(text)
    assert result.commune is not None
    assert result.commune.code_insee == code
    assert result.commune.name == name
    assert result.commune.kind == Commune.Kind.CURRENT


@pytest.mark.django_db
def test_insee_code_of_a_delegated_commune_maps_to_its_parent(
    communes: None,
) -> None:
    # Brénaz (01059) merged into Arvière-en-Valromey (01453).
    result = resolve_place("01059")
    assert result.commune is not None
    assert result.commune.code_insee == "01453"


# resolve_place: names


@pytest.mark.django_db
@pytest.mark.parametrize("text", ["bordeaux", "BORDEAUX", "Bordeaux"])
def test_name_is_case_insensitive(communes: None, text: str) -> None:
    result = resolve_place(text)
    assert result.commune is not None
    assert result.commune.code_insee == "33063"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "text", ["Évry-Courcouronnes", "evry courcouronnes", "EVRY-COURCOURONNES"]
)
def test_name_is_accent_insensitive(communes: None, text: str) -> None:
    result = resolve_place(text)
    assert result.commune is not None
    assert result.commune.code_insee == "91228"


@pytest.mark.django_db
def test_plain_evry_is_the_commune_of_the_yonne(communes: None) -> None:
    # An exact name match: "Évry" alone is Évry (89), not Évry-Courcouronnes.
    result = resolve_place("Évry")
    assert result.commune is not None
    assert result.commune.code_insee == "89162"


@pytest.mark.django_db
@pytest.mark.parametrize("text", ["St-Etienne", "SAINT-ETIENNE", "saint étienne"])
def test_saint_abbreviation(communes: None, text: str) -> None:
    result = resolve_place(text)
    assert result.commune is not None
    assert result.commune.code_insee == "42218"
    assert result.commune.name == "Saint-Étienne"


@pytest.mark.django_db
def test_ambiguous_name_offers_choices(communes: None) -> None:
    result = resolve_place("Saint-Denis")
    assert result.commune is None
    assert len(result.choices) >= 4
    departments = [choice.department for choice in result.choices]
    assert len(set(departments)) == len(departments)
    assert {"93", "974"} <= set(departments)
    # Saint-Denis (93) is also a delegated commune of itself: listed once.
    assert [choice.code_insee for choice in result.choices].count("93066") == 1
    assert {choice.name for choice in result.choices} == {"Saint-Denis"}


@pytest.mark.django_db
def test_ambiguous_name_uses_few_queries(
    communes: None, django_assert_max_num_queries
) -> None:
    with django_assert_max_num_queries(3):
        result = resolve_place("Saint-Denis")
    assert len(result.choices) >= 4


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "code", "name"),
    [
        # Delegated commune of Valserhône since 2019.
        ("Bellegarde-sur-Valserine", "01033", "Valserhône"),
        # Associated commune of Tergnier.
        ("Fargniers", "02738", "Tergnier"),
    ],
)
def test_old_name_resolves_to_todays_commune(
    communes: None, text: str, code: str, name: str
) -> None:
    assert Commune.objects.filter(
        search_name=normalize_place_name(text),
        kind__in=[Commune.Kind.DELEGATED, Commune.Kind.ASSOCIATED],
    ).exists()
    result = resolve_place(text)
    assert result.commune is not None
    assert result.commune.code_insee == code
    assert result.commune.name == name
    assert result.commune.kind == Commune.Kind.CURRENT


@pytest.mark.django_db
@pytest.mark.parametrize(("text", "code"), [("Paris", "75056"), ("lyon", "69123")])
def test_divided_city_name_is_the_commune_itself(
    communes: None, text: str, code: str
) -> None:
    result = resolve_place(text)
    assert result.commune is not None
    assert result.commune.code_insee == code
    assert result.commune.kind == Commune.Kind.CURRENT


@pytest.mark.django_db
@pytest.mark.parametrize(
    "text", ["zzzz", "", "   ", "x" * 500, "99999", "\x00", "2A999", "-- '"]
)
def test_garbage_finds_nothing(communes: None, text: str) -> None:
    result = resolve_place(text)
    assert result.commune is None
    assert result.choices == []
    assert not result.found


# search_communes


@pytest.mark.django_db
def test_search_by_name_prefix(communes: None) -> None:
    results = search_communes("bord")
    assert results[0].code_insee == "33063"
    assert len(results) <= 10
    assert all(
        normalize_place_name(choice.name).startswith("bord") for choice in results
    )


@pytest.mark.django_db
def test_search_abbreviation_while_typing(communes: None) -> None:
    # "St" may be "Saint" or the start of "Strasbourg".
    names = [choice.name for choice in search_communes("St", limit=20)]
    assert "Strasbourg" in names
    assert "Saint-Étienne" in names


@pytest.mark.django_db
def test_search_maps_old_names_to_todays_commune(communes: None) -> None:
    results = search_communes("Bellegarde-sur-Vals")
    assert [choice.code_insee for choice in results] == ["01033"]
    assert results[0].name == "Valserhône"


@pytest.mark.django_db
def test_search_by_postal_code_prefix(communes: None) -> None:
    results = search_communes("330")
    assert results[0].code_insee == "33063"
    assert all(choice.postal_code.startswith("330") for choice in results)

    results = search_communes("01000")
    assert {choice.code_insee for choice in results} == {"01053", "01344"}

    results = search_communes("75011")
    assert [choice.code_insee for choice in results] == ["75111"]


@pytest.mark.django_db
def test_search_respects_limit(communes: None) -> None:
    assert len(search_communes("saint", limit=5)) == 5
    assert len(search_communes("33", limit=3)) == 3


@pytest.mark.django_db
@pytest.mark.parametrize("prefix", ["", "a", " b ", "7", "x" * 200, "--"])
def test_search_too_short_finds_nothing(communes: None, prefix: str) -> None:
    assert search_communes(prefix) == []


# import_communes


@pytest.mark.django_db
def test_import_counts(communes: None) -> None:
    assert Commune.objects.count() == COMMUNE_ROWS
    assert PostalCode.objects.count() == POSTAL_CODE_PAIRS
    paris = Commune.objects.get(code_insee="75056", kind=Commune.Kind.CURRENT)
    assert paris.department_name == "Paris"
    assert paris.population and paris.population > 2_000_000
    former = Commune.objects.get(code_insee="02300", kind=Commune.Kind.ASSOCIATED)
    assert former.population is None
    assert former.parent_code == "02738"


@pytest.mark.django_db
def test_import_twice_without_force_changes_nothing(communes: None) -> None:
    before = list(Commune.objects.order_by("pk").values_list("pk", "code_insee"))
    out = StringIO()
    call_command("import_communes", stdout=out)
    assert out.getvalue().strip() == (
        f"Communes already imported ({COMMUNE_ROWS}); use --force to reload."
    )
    after = list(Commune.objects.order_by("pk").values_list("pk", "code_insee"))
    assert after == before
    assert PostalCode.objects.count() == POSTAL_CODE_PAIRS


@pytest.mark.django_db
def test_import_force_keeps_counts_and_ids(communes: None) -> None:
    bordeaux = Commune.objects.get(code_insee="33063", kind=Commune.Kind.CURRENT)
    out = StringIO()
    call_command("import_communes", "--force", stdout=out)
    assert (
        f"Imported {COMMUNE_ROWS} communes and {POSTAL_CODE_PAIRS} postal codes"
        in out.getvalue()
    )
    assert Commune.objects.count() == COMMUNE_ROWS
    assert PostalCode.objects.count() == POSTAL_CODE_PAIRS
    # An upsert, not a reload: conversations keep pointing at the same rows.
    assert Commune.objects.get(pk=bordeaux.pk).code_insee == "33063"


@pytest.mark.django_db
def test_import_reports_pairs_without_commune(communes: None, tmp_path: Path) -> None:
    (tmp_path / "communes.csv").write_text(
        "code_insee,nom,nom_recherche,type,code_commune_parente,departement,"
        "nom_departement,population\n"
        "33063,Bordeaux,bordeaux,commune-actuelle,,33,Gironde,261804\n",
        encoding="utf-8",
    )
    (tmp_path / "postal_codes.csv").write_text(
        "code_postal,code_insee\n33000,33063\n33000,33063\n99999,99999\n",
        encoding="utf-8",
    )
    out = StringIO()
    call_command("import_communes", "--force", data_dir=tmp_path, stdout=out)
    assert "Skipped 1 postal code pairs" in out.getvalue()
    assert list(PostalCode.objects.values_list("code", "commune__code_insee")) == [
        ("33000", "33063")
    ]


def test_import_reports_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="Data directory not found"):
        call_command("import_communes", data_dir=tmp_path / "absent")
    with pytest.raises(CommandError, match="communes.csv not found"):
        call_command("import_communes", data_dir=tmp_path)
