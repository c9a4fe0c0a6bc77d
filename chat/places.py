"""Resolve what a visitor types as a place into a commune of the COG.

Visitors type a postal code ("33000"), an INSEE code ("33063", "2A004"), a
commune name in any case with or without accents ("SAINT-ETIENNE",
"evry courcouronnes"), an old name of a merged commune, or a postal code and
a name together ("01000 Bourg-en-Bresse"). ``resolve_place`` turns that into
one commune, or into a list of choices when the input is ambiguous (one
postal code often covers several communes, and those communes can depend on
different police or gendarmerie units, so the visitor must pick one).
``search_communes`` serves the autocomplete, and ``resolve_commune_code``
resolves the INSEE code of a commune picked from it (or from the choices),
never read as a postal code: many INSEE codes are another commune's postal
code (Lille, 59350, is Saint-André-lez-Lille's postal code).

Names are compared through ``normalize_place_name``, which follows the
``nom_recherche`` convention of ``communes.csv`` (lowercase, no accents,
every non-alphanumeric character turned into a space).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db.models import F, Q
from django.db.models.expressions import OrderBy

from chat.models import Commune, PostalCode
from realtime.prepared import Prepared

MAX_INPUT_LENGTH = 120
MIN_SEARCH_LENGTH = 2

# Kinds a visitor can actually be located in today; former communes only
# serve as aliases of their current parent.
CURRENT_KINDS = (Commune.Kind.CURRENT, Commune.Kind.ARRONDISSEMENT)
FORMER_KINDS = (Commune.Kind.DELEGATED, Commune.Kind.ASSOCIATED)

# NFKD leaves these ligatures whole; communes.csv spells them out ("Œuilly"
# is "oeuilly").
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ß": "ss"})
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_ABBREVIATIONS = {"st": "saint", "ste": "sainte", "sts": "saints", "stes": "saintes"}
_POSTAL_CODE = re.compile(r"\d{5}")
_INSEE_CODE = re.compile(r"(?:\d{5}|2[AB]\d{3})")
# "01000 Bourg-en-Bresse", "Bourg-en-Bresse 01000", "Bourg-en-Bresse (01000)".
_CODE_THEN_NAME = re.compile(r"(\d{5})[\s,;\-]+(\D.*)")
_NAME_THEN_CODE = re.compile(r"(.*\D)[\s,;\-]*\(?(\d{5})\)?")


def normalize_place_name(text: str) -> str:
    """Return ``text`` in the ``nom_recherche`` form of communes.csv.

    Lowercase, accents stripped, ligatures spelled out, every other
    character turned into a space, spaces collapsed, and the abbreviations
    "st"/"ste" expanded ("St-Étienne" gives "saint etienne").
    """
    return " ".join(_expand(word) for word in _words(text))


def _words(text: str) -> list[str]:
    """Return the words of ``text``, lowercase, without accents."""
    text = unicodedata.normalize("NFKD", text.lower().translate(_LIGATURES))
    text = "".join(char for char in text if not unicodedata.combining(char))
    # Only ASCII letters and digits survive: the reference data has no
    # other characters, so anything else could never match.
    return _NON_ALNUM.sub(" ", text).split()


def _expand(word: str) -> str:
    """Return ``word`` with the "st"/"ste" abbreviations spelled out."""
    return _ABBREVIATIONS.get(word, word)


@dataclass(frozen=True)
class PlaceChoice:
    """One commune offered to the visitor when the input is ambiguous."""

    code_insee: str
    name: str
    postal_code: str
    department: str

    def as_dict(self) -> dict[str, str]:
        """Return the choice as a JSON-ready dict."""
        return asdict(self)


@dataclass
class PlaceResolution:
    """The outcome of ``resolve_place``.

    ``commune`` is set when the input designates exactly one current
    commune (or arrondissement); ``choices`` lists the candidates when it
    designates several. Both empty means nothing was found. ``postal_code``
    is the postal code typed, or the only postal code of the commune, or "".
    """

    commune: Commune | None = None
    choices: list[PlaceChoice] = field(default_factory=list)
    postal_code: str = ""

    @property
    def found(self) -> bool:
        """True when a commune or at least one choice was found."""
        return self.commune is not None or bool(self.choices)


def resolve_place(text: str) -> PlaceResolution:
    """Resolve a postal code, INSEE code or commune name into a commune.

    Never raises on bad input: anything unusable resolves to nothing.
    """
    if not isinstance(text, str):
        return PlaceResolution()
    text = text.strip()
    if not text or len(text) > MAX_INPUT_LENGTH:
        return PlaceResolution()
    text = " ".join(text.split())

    if _POSTAL_CODE.fullmatch(text):
        communes = _communes_by_postal_code(text)
        if communes:
            return _resolution(communes, postal_code=text)
    if _INSEE_CODE.fullmatch(text.upper()):
        # A code that is neither a postal code nor an INSEE code is no name.
        return _resolution(_communes_by_insee_code(text.upper()))

    match = _CODE_THEN_NAME.fullmatch(text)
    if match:
        return _resolve_code_and_name(match.group(1), match.group(2))
    match = _NAME_THEN_CODE.fullmatch(text)
    if match:
        return _resolve_code_and_name(match.group(2), match.group(1))

    return _resolution(_communes_by_name(normalize_place_name(text)))


def resolve_commune_code(code: str) -> PlaceResolution:
    """Resolve the INSEE code of a commune the visitor picked from a list.

    Only INSEE codes are read: a current commune or arrondissement, or a
    former (delegated, associated) commune mapped to its current parent.
    Never raises; an unknown or malformed code resolves to nothing.
    """
    if not isinstance(code, str):
        return PlaceResolution()
    code = code.strip().upper()
    if not _INSEE_CODE.fullmatch(code):
        return PlaceResolution()
    communes = _communes_by_insee_code(code)
    if len(communes) != 1:
        return PlaceResolution()
    return _resolution(communes)


def main_postal_code(commune: Commune) -> str:
    """Return the postal code shown beside ``commune``'s name.

    For a commune with several, the lowest of those La Poste labels with
    the commune's own name (Arles 13200, not 13104 "MAS THIBERT"), else
    the lowest; "" when the commune has none.
    """
    return _main_postal_codes([commune]).get(commune.pk, "")


def render_commune(commune: Commune, *, postal_code: str = "") -> dict[str, str]:
    """Return the ``commune`` object of ``started`` and ``resumed``."""
    return {
        "code": commune.code_insee,
        "name": commune.name,
        "postal_code": postal_code or main_postal_code(commune),
        "department": commune.department,
    }


def render_conversation_commune(conversation: Any) -> dict[str, str] | None:
    """Return ``resumed.commune``: the commune a conversation started for.

    The postal code is the one the visitor typed, kept at the head of the
    place label ("94200 Ivry-sur-Seine"), else the commune's main one.
    """
    commune = (
        Commune.objects.filter(id=conversation.commune_id).first()
        if conversation.commune_id
        else None
    )
    if commune is None:
        return None
    label = conversation.place_label or ""
    typed = label[:5] if _POSTAL_CODE.fullmatch(label[:5]) else ""
    return render_commune(commune, postal_code=typed)


def search_communes(prefix: str, *, limit: int = 10) -> list[PlaceChoice]:
    """Return up to ``limit`` communes for an autocomplete on ``prefix``.

    Digits search postal codes, anything else searches names. Current
    communes and arrondissements come first, then the current communes
    whose old (delegated or associated) names match; larger populations
    first within each group.
    """
    if not isinstance(prefix, str) or limit <= 0:
        return []
    prefix = prefix.strip()
    if len(prefix) < MIN_SEARCH_LENGTH or len(prefix) > MAX_INPUT_LENGTH:
        return []
    if prefix.isdigit():
        return _search_by_postal_code(prefix, limit=limit) if len(prefix) <= 5 else []
    words = _words(prefix)
    if not words:
        return []
    # The last word may still be being typed: "St" can be the start of
    # "Strasbourg" as well as the abbreviation of "Saint".
    names = {
        " ".join(_expand(word) for word in words),
        " ".join([*map(_expand, words[:-1]), words[-1]]),
    }
    names = {name for name in names if len(name) >= MIN_SEARCH_LENGTH}
    if not names:
        return []
    return _search_by_name(names, limit=limit)


def _by_population() -> tuple[OrderBy, str, str]:
    """Return the ordering "largest population first, then by name"."""
    return (F("population").desc(nulls_last=True), "name", "code_insee")


def _drop_divided_parents(communes: Iterable[Commune]) -> list[Commune]:
    """Drop Paris, Lyon or Marseille when one of their arrondissements is there.

    La Poste lists each arrondissement's postal code under the parent too,
    but the arrondissement is the precise answer.
    """
    communes = list(communes)
    divided = {
        commune.parent_code
        for commune in communes
        if commune.kind == Commune.Kind.ARRONDISSEMENT
    }
    return [commune for commune in communes if commune.code_insee not in divided]


def _communes_by_postal_code(code: str) -> list[Commune]:
    """Return the current communes a postal code covers."""
    return _drop_divided_parents(_BY_POSTAL_CODE.all(code=code))


# Every start by postal code reads it: built once per connection
# (realtime.prepared).
_BY_POSTAL_CODE = Prepared(
    lambda code: Commune.objects.filter(
        postal_codes__code=code, kind__in=CURRENT_KINDS
    ).distinct(),
    code=PostalCode._meta.get_field("code"),
)


def _communes_by_insee_code(code: str) -> list[Commune]:
    """Return the current commune of an INSEE code, mapping old codes.

    A delegated commune often shares its code with the new commune; when
    only a former commune has the code, its parent is returned.
    """
    rows = list(Commune.objects.filter(code_insee=code))
    current = [commune for commune in rows if commune.kind in CURRENT_KINDS]
    if current:
        return current
    return _parents_of(rows)


def _communes_by_name(name: str) -> list[Commune]:
    """Return the current communes whose name, or an old name, is ``name``."""
    if not name:
        return []
    rows = list(Commune.objects.filter(search_name=name))
    current = [commune for commune in rows if commune.kind in CURRENT_KINDS]
    return _dedupe(current + _parents_of(rows))


def _parents_of(communes: Iterable[Commune]) -> list[Commune]:
    """Return the current parents of the former communes among ``communes``."""
    codes = {
        commune.parent_code
        for commune in communes
        if commune.kind in FORMER_KINDS and commune.parent_code
    }
    if not codes:
        return []
    return list(Commune.objects.filter(code_insee__in=codes, kind=Commune.Kind.CURRENT))


def _dedupe(communes: Iterable[Commune]) -> list[Commune]:
    """Return ``communes`` without repeats, keeping the first occurrence."""
    seen: dict[int, Commune] = {}
    for commune in communes:
        seen.setdefault(commune.pk, commune)
    return list(seen.values())


def _resolve_code_and_name(code: str, name_text: str) -> PlaceResolution:
    """Resolve a postal code typed together with a name.

    The name picks among the communes of the postal code. When it matches
    none of them the input contradicts itself, so the postal code's
    communes are offered as choices rather than guessing.
    """
    name = normalize_place_name(name_text)
    in_code = _communes_by_postal_code(code)
    if not in_code:
        return _resolution(_communes_by_name(name))
    by_name = {commune.pk for commune in _communes_by_name(name)}
    matches = [commune for commune in in_code if commune.pk in by_name]
    if not matches and name:
        # "75011 Paris": the arrondissement's name only starts with "paris".
        matches = [
            commune for commune in in_code if commune.search_name.startswith(f"{name} ")
        ]
    if len(matches) == 1:
        return _resolution(matches, postal_code=code)
    return PlaceResolution(
        choices=_choices(matches or in_code, postal_code=code), postal_code=code
    )


def _resolution(communes: list[Commune], *, postal_code: str = "") -> PlaceResolution:
    """Build the resolution for a list of candidate current communes."""
    if not communes:
        return PlaceResolution(postal_code=postal_code)
    if len(communes) == 1:
        commune = communes[0]
        code = postal_code or _single_postal_codes([commune]).get(commune.pk, "")
        return PlaceResolution(commune=commune, postal_code=code)
    return PlaceResolution(
        choices=_choices(communes, postal_code=postal_code), postal_code=postal_code
    )


def _choices(communes: list[Commune], *, postal_code: str = "") -> list[PlaceChoice]:
    """Return one choice per commune, sorted by name then department."""
    communes = sorted(
        _dedupe(communes),
        key=lambda commune: (commune.search_name, commune.department, commune.pk),
    )
    main = {} if postal_code else _main_postal_codes(communes)
    return [
        _choice(commune, postal_code=postal_code or main.get(commune.pk, ""))
        for commune in communes
    ]


def _choice(commune: Commune, *, postal_code: str) -> PlaceChoice:
    """Return the choice describing ``commune``."""
    return PlaceChoice(
        code_insee=commune.code_insee,
        name=commune.name,
        postal_code=postal_code,
        department=commune.department,
    )


def _single_postal_codes(communes: list[Commune]) -> dict[int, str]:
    """Map each commune that has exactly one postal code to that code."""
    codes: dict[int, set[str]] = {}
    pairs = PostalCode.objects.filter(commune__in=[c.pk for c in communes])
    for commune_id, code in pairs.values_list("commune_id", "code"):
        codes.setdefault(commune_id, set()).add(code)
    return {pk: next(iter(found)) for pk, found in codes.items() if len(found) == 1}


def _main_postal_codes(communes: list[Commune]) -> dict[int, str]:
    """Map each commune to its main postal code (see ``main_postal_code``)."""
    names = {commune.pk: commune.search_name for commune in communes}
    best: dict[int, tuple[bool, str]] = {}
    pairs = PostalCode.objects.filter(commune__in=list(names))
    for commune_id, code, label in pairs.values_list("commune_id", "code", "label"):
        # La Poste labels the town itself with its name ("ARLES" 13200);
        # its villages have their own labels ("SALIN DE GIRAUD" 13129).
        key = (normalize_place_name(label) != names[commune_id], code)
        if commune_id not in best or key < best[commune_id]:
            best[commune_id] = key
    return {pk: key[1] for pk, key in best.items()}


def _search_by_postal_code(prefix: str, *, limit: int) -> list[PlaceChoice]:
    """Return the communes whose postal code starts with ``prefix``."""
    divided = Commune.objects.filter(kind=Commune.Kind.ARRONDISSEMENT).values(
        "parent_code"
    )
    communes = list(
        Commune.objects.filter(
            postal_codes__code__startswith=prefix, kind__in=CURRENT_KINDS
        )
        # The arrondissements carry the same postal codes, more precisely.
        .exclude(code_insee__in=divided)
        .distinct()
        .order_by(*_by_population())[:limit]
    )
    first_code: dict[int, str] = {}
    pairs = PostalCode.objects.filter(
        code__startswith=prefix, commune__in=[c.pk for c in communes]
    ).order_by("code")
    for commune_id, code in pairs.values_list("commune_id", "code"):
        first_code.setdefault(commune_id, code)
    return [
        _choice(commune, postal_code=first_code.get(commune.pk, ""))
        for commune in communes
    ]


def _search_by_name(names: set[str], *, limit: int) -> list[PlaceChoice]:
    """Return the communes whose name, or an old name, starts with ``names``."""
    starts = Q()
    for name in sorted(names):
        starts |= Q(search_name__startswith=name)
    current = list(
        Commune.objects.filter(starts, kind__in=CURRENT_KINDS).order_by(
            *_by_population()
        )[:limit]
    )
    if len(current) < limit:
        former_parents = Commune.objects.filter(starts, kind__in=FORMER_KINDS).values(
            "parent_code"
        )
        parents = (
            Commune.objects.filter(
                code_insee__in=former_parents, kind=Commune.Kind.CURRENT
            )
            .exclude(pk__in=[commune.pk for commune in current])
            .order_by(*_by_population())[: limit - len(current)]
        )
        current.extend(parents)
    main = _main_postal_codes(current)
    return [
        _choice(commune, postal_code=main.get(commune.pk, "")) for commune in current
    ]
