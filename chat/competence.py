"""Territorial competence: which force, police or gendarmerie, serves a place.

The national platform's first question, "city or postal code?", decides
whether a police officer or a gendarme answers: the force competent for
the commune (issue 6). The values come from the Ministry of the Interior's
file, imported by ``manage.py import_competence`` with their source kept
(``officiel`` or ``estimation``, see the data README §4); an
administrator's override wins and is recorded. A commune split between
the two forces, or one whose value is only estimated, asks the operator
to confirm the force (``confirm_force``).

Routing: services sharing a ``routing_group`` are the queues of one
platform, one per ``force``. ``route_to_force`` picks the queue of the
competent force; a split commune goes to ``SPLIT_DEFAULT_FORCE`` first
(the official file names the police unit first) and the operator confirms
or hands it to the other force.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from chat.models import (
    Commune,
    CommuneCompetence,
    CompetenceOverride,
    Conversation,
    Service,
)
from realtime.prepared import Prepared

Force = CommuneCompetence.Force
Source = CommuneCompetence.Source

# The Préfecture de police area: every commune is PN (data README §4).
POLICE_PREFECTURE_DEPARTMENTS = frozenset({"75", "92", "93", "94"})
ESTIMATE_POPULATION_THRESHOLD = 15_000
SPLIT_DEFAULT_FORCE = Force.POLICE
FORCES = (Force.POLICE, Force.GENDARMERIE)


@dataclass(frozen=True)
class Competence:
    """The force serving a commune, and how much to trust it."""

    force: str
    source: str
    unit: str = ""

    @property
    def approximate(self) -> bool:
        """True when the value is only the population-based estimate."""
        return self.source == Source.ESTIMATE

    @property
    def split(self) -> bool:
        return self.force == Force.SPLIT

    @property
    def needs_confirmation(self) -> bool:
        """True when an operator should confirm the force with the visitor."""
        return self.split or self.approximate

    def as_dict(self) -> dict[str, Any]:
        return {
            "force": self.force,
            "source": self.source,
            "unit": self.unit,
            "approximate": self.approximate,
        }


def estimate_force(*, population: int | None, department: str) -> str:
    """Return the estimate of the data README: PN for big or Paris-area towns.

    Wrong for about 14 % of the population; only a fallback for communes
    the official file does not list.
    """
    if department in POLICE_PREFECTURE_DEPARTMENTS:
        return Force.POLICE
    if population is not None and population >= ESTIMATE_POPULATION_THRESHOLD:
        return Force.POLICE
    return Force.GENDARMERIE


def get_competence(commune: Commune) -> Competence:
    """Return the force serving ``commune``: override, official, or estimate.

    A commune missing from the table (created after the export, say) gets
    the estimate, labelled as such.
    """
    codes = [commune.code_insee]
    if commune.parent_code and commune.parent_code != commune.code_insee:
        codes.append(commune.parent_code)
    # Its own code twice when it has no parent: one shape, built once per
    # connection (realtime.prepared).
    rows = {
        row.code_insee: row for row in _COMPETENCE.all(own=codes[0], parent=codes[-1])
    }
    for code in codes:
        row = rows.get(code)
        if row is not None:
            return competence_of(row)
    return Competence(
        force=estimate_force(
            population=commune.population, department=commune.department
        ),
        source=Source.ESTIMATE,
    )


_COMPETENCE = Prepared(
    lambda own, parent: CommuneCompetence.objects.filter(code_insee__in=[own, parent]),
    own=CommuneCompetence._meta.get_field("code_insee"),
    parent=CommuneCompetence._meta.get_field("code_insee"),
)


def competence_of(row: CommuneCompetence) -> Competence:
    """Return the competence in effect for a table row."""
    return Competence(force=row.force, source=row.source, unit=unit_for(row))


def unit_for(row: CommuneCompetence) -> str:
    """Return the competent unit's name when it matches the force in effect.

    For a split commune the official field names both ("PN | GN"); after
    an override to one force, only that force's unit is kept.
    """
    units = [part.strip() for part in row.official_unit.split("|") if part.strip()]
    if row.force == Force.SPLIT or row.force == row.official_force:
        return " | ".join(units)
    if row.official_force == Force.SPLIT and len(units) == 2:
        return units[0] if row.force == Force.POLICE else units[1]
    return ""


def render_competence(conversation: Conversation) -> dict[str, Any] | None:
    """Return the ``competence`` object of a conversation for staff frames.

    None when the conversation has no commune. ``confirm_force`` stays true
    until an operator confirms the force of a split or estimated commune.
    """
    if not conversation.competence:
        return None
    approximate = conversation.competence_source == Source.ESTIMATE
    needs = conversation.competence == Force.SPLIT or approximate
    return {
        "force": conversation.competence,
        "source": conversation.competence_source,
        "unit": conversation.competence_unit,
        "approximate": approximate,
        "confirm_force": needs and conversation.force_confirmed_at is None,
        "queue_force": conversation.service.force or None,
    }


def competence_fields(commune: Commune | None) -> dict[str, str]:
    """Return the Conversation fields recording ``commune``'s competence."""
    if commune is None:
        return {}
    competence = get_competence(commune)
    return {
        "competence": competence.force,
        "competence_source": competence.source,
        "competence_unit": competence.unit[:300],
    }


# -- routing ----------------------------------------------------------------


def list_group_services(group: str) -> list[Service]:
    """Return the active services of a routing group, highest priority first."""
    return list(
        Service.objects.filter(routing_group=group, active=True).order_by(
            "-priority", "id"
        )
    )


def route_to_force(service: Service, commune: Commune | None) -> Service:
    """Return the queue of ``service``'s group competent for ``commune``.

    A service outside any group is returned as is; so is the group's first
    service when no queue of the competent force exists.
    """
    if not service.routing_group:
        return service
    siblings = list_group_services(service.routing_group)
    if not siblings:
        return service
    if commune is None:
        return service
    force = get_competence(commune).force
    if force == Force.SPLIT:
        force = SPLIT_DEFAULT_FORCE
    for sibling in siblings:
        if sibling.force == force:
            return sibling
    return service


def get_other_force_service(service: Service) -> Service | None:
    """Return the queue of the other force in ``service``'s group, or None."""
    if not service.routing_group or service.force not in FORCES:
        return None
    other = Force.GENDARMERIE if service.force == Force.POLICE else Force.POLICE
    return (
        Service.objects.filter(
            routing_group=service.routing_group, force=other, active=True
        )
        .order_by("-priority", "id")
        .first()
    )


# -- writes -----------------------------------------------------------------


@transaction.atomic
def do_override_competence(
    row: CommuneCompetence, *, force: str, note: str = "", user: User | None
) -> CommuneCompetence:
    """Set (or, with ``force=""``, remove) an administrator's override.

    Writes a ``CompetenceOverride`` row with the old and new values in the
    same transaction; nothing is written when nothing changes.
    """
    if force not in ("", *Force.values):
        raise ValueError(f"unknown force {force!r}")
    current = CommuneCompetence.objects.select_for_update().get(pk=row.pk)
    if current.override_force == force and (not force or current.override_note == note):
        return current
    CompetenceOverride.objects.create(
        competence=current,
        previous_force=current.force,
        previous_source=current.source,
        new_force=force,
        note=note[:300],
        user=user,
    )
    current.override_force = force
    current.override_note = note[:300] if force else ""
    current.overridden_by = user if force else None
    current.overridden_at = timezone.now() if force else None
    current.save(
        update_fields=[
            "override_force",
            "override_note",
            "overridden_by",
            "overridden_at",
        ]
    )
    return current


def queue_competence_fields(conversation: Conversation) -> dict[str, Any]:
    """Return ``{"competence": ...}`` for a queue item of a force queue.

    Only the queues of a routing group carry it: elsewhere the force does
    not decide who answers.
    """
    if not conversation.service.routing_group:
        return {}
    return {"competence": render_competence(conversation)}
