"""Directory import and export: the seed files and the project's CSV.

Seeding reads ``victim_support_annuaire_2019.csv`` (DILA annuaire 2019,
stale and partial, data README §5) and ``national_helplines.json`` (typed
by hand, README §6). Every seeded entry is unverified until an
administrator verifies it, and a re-run never overwrites an entry an
administrator has verified or edited since: it only adds what is missing.

The project's own CSV (``EXPORT_COLUMNS``) round-trips: exporting then
importing the file gives the same entries, matched by ``id``, then by
``source_ref``.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from django.core.exceptions import ValidationError
from django.db import transaction

from chat.models import Commune, Service
from directory.models import Resource

ANNUAIRE_FILE = "victim_support_annuaire_2019.csv"
HELPLINES_FILE = "national_helplines.json"
ANNUAIRE_SOURCE = (
    "Annuaire DILA (service-public.fr) août 2019, via okfnfr/dada-france-"
    "authorities — Licence Ouverte ; ancien, à vérifier"
)
HELPLINES_SOURCE = "national_helplines.json (saisie manuelle, à vérifier)"
ANNUAIRE_KINDS = {
    "cidf": Resource.Kind.CIDFF,
    "bav": Resource.Kind.VICTIM_SUPPORT,
    "mjd": Resource.Kind.ACCESS_TO_LAW,
}
FRANCE_VICTIMES_REF = "helpline:116006"
EXPORT_COLUMNS = [
    "id",
    "kind",
    "name",
    "description",
    "address",
    "postal_code",
    "commune_code",
    "commune_name",
    "department",
    "departments",
    "communes",
    "is_national",
    "always_offer",
    "phone",
    "email",
    "website",
    "hours",
    "source",
    "source_ref",
    "verified_at",
    "active",
    "services",
    "callback_services",
]
LIST_SEPARATOR = "|"


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] | None = None

    def __str__(self) -> str:
        text = f"{self.created} added, {self.updated} updated, {self.unchanged} kept"
        if self.errors:
            text += f", {len(self.errors)} rejected"
        return text


# -- seeding ----------------------------------------------------------------


@transaction.atomic
def do_seed_directory(data_dir: Path) -> ImportReport:
    """Add the seed entries that are missing; never touch existing ones."""
    report = ImportReport(errors=[])
    existing = set(
        Resource.objects.exclude(source_ref="").values_list("source_ref", flat=True)
    )
    entries = list(read_helplines(data_dir / HELPLINES_FILE))
    entries += list(read_annuaire(data_dir / ANNUAIRE_FILE))
    new = [entry for entry in entries if entry.source_ref not in existing]
    Resource.objects.bulk_create(new, batch_size=500)
    report.created = len(new)
    report.unchanged = len(entries) - len(new)
    # 116 006 is always offered (data README §5): keep it marked so.
    Resource.objects.filter(source_ref=FRANCE_VICTIMES_REF).update(
        always_offer=True, is_national=True
    )
    return report


def read_helplines(path: Path) -> Iterable[Resource]:
    """Yield one national entry per number and platform of the JSON file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    for item in data.get("helplines", []):
        number = str(item["numero"]).strip()
        yield Resource(
            kind=Resource.Kind.NATIONAL,
            name=item["nom"].strip()[:300],
            description=item.get("usage", "").strip(),
            phone=number,
            is_national=True,
            always_offer=number.replace(" ", "") == "116006",
            website="https://www.france-victimes.fr"
            if number.replace(" ", "") == "116006"
            else "",
            source=HELPLINES_SOURCE,
            source_ref=f"helpline:{number.replace(' ', '')}",
        )
    for item in data.get("plateformes", []):
        yield Resource(
            kind=Resource.Kind.NATIONAL,
            name=item["nom"].strip()[:300],
            description=item.get("usage", "").strip(),
            website=item["url"].strip(),
            is_national=True,
            source=HELPLINES_SOURCE,
            source_ref=f"platform:{item['url'].strip()}"[:100],
        )


def read_annuaire(path: Path) -> Iterable[Resource]:
    """Yield one entry per row of the 2019 annuaire extract."""
    names = _commune_names()
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            kind = ANNUAIRE_KINDS.get(row["type"].strip())
            if kind is None:
                continue
            code = row["code_insee_annuaire"].strip()
            department = row["departement"].strip()
            website = row["site_web"].strip()
            if website and not website.startswith(("http://", "https://")):
                website = f"http://{website}"
            yield Resource(
                kind=kind,
                name=row["nom"].strip()[:300],
                description=row["type_libelle"].strip(),
                address=row["adresse"].strip()[:300],
                postal_code=row["code_postal"].strip()[:5],
                commune_code=code,
                commune_name=names.get(code) or row["ville"].strip()[:100],
                department=department,
                departments=[department] if department else [],
                phone=row["telephone"].strip()[:40],
                email=row["email"].strip()[:254],
                website=website[:300],
                source=ANNUAIRE_SOURCE,
                source_ref=f"annuaire:{row['id_annuaire'].strip()}"[:100],
            )


def _commune_names() -> dict[str, str]:
    return dict(
        Commune.objects.filter(
            kind__in=[Commune.Kind.CURRENT, Commune.Kind.ARRONDISSEMENT]
        ).values_list("code_insee", "name")
    )


# -- the project's CSV --------------------------------------------------------


def export_resources(
    handle: TextIO, resources: Iterable[Resource] | None = None
) -> int:
    """Write ``resources`` (default: all) as CSV; return how many rows."""
    rows = (
        resources if resources is not None else Resource.objects.order_by("name", "id")
    )
    writer = csv.DictWriter(handle, fieldnames=EXPORT_COLUMNS)
    writer.writeheader()
    count = 0
    for resource in rows:
        writer.writerow(_export_row(resource))
        count += 1
    return count


def export_resources_text(resources: Iterable[Resource] | None = None) -> str:
    buffer = io.StringIO()
    export_resources(buffer, resources)
    return buffer.getvalue()


def _export_row(resource: Resource) -> dict[str, str]:
    return {
        "id": str(resource.id),
        "kind": resource.kind,
        "name": resource.name,
        "description": resource.description,
        "address": resource.address,
        "postal_code": resource.postal_code,
        "commune_code": resource.commune_code,
        "commune_name": resource.commune_name,
        "department": resource.department,
        "departments": LIST_SEPARATOR.join(resource.departments),
        "communes": LIST_SEPARATOR.join(resource.communes),
        "is_national": _flag(resource.is_national),
        "always_offer": _flag(resource.always_offer),
        "phone": resource.phone,
        "email": resource.email,
        "website": resource.website,
        "hours": resource.hours,
        "source": resource.source,
        "source_ref": resource.source_ref,
        "verified_at": resource.verified_at.isoformat() if resource.verified_at else "",
        "active": _flag(resource.active),
        "services": LIST_SEPARATOR.join(
            sorted(service.slug for service in resource.services.all())
        ),
        "callback_services": LIST_SEPARATOR.join(
            sorted(service.slug for service in resource.callback_services.all())
        ),
    }


def _flag(value: bool) -> str:
    return "1" if value else "0"


@transaction.atomic
def do_import_resources(handle: TextIO) -> ImportReport:
    """Create or update entries from the project's CSV.

    A row is matched by ``id``, then by ``source_ref``; a row with neither
    creates an entry. Invalid rows are reported and skipped, the rest is
    imported.
    """
    report = ImportReport(errors=[])
    reader = csv.DictReader(handle)
    missing = {"kind", "name"} - set(reader.fieldnames or ())
    if missing:
        report.errors.append(f"missing columns: {', '.join(sorted(missing))}")
        return report
    services = {service.slug: service for service in Service.objects.all()}
    for row in reader:
        line = reader.line_num
        try:
            outcome = _import_row(row, services)
        except (ValidationError, ValueError) as error:
            report.errors.append(f"line {line}: {_error_text(error)}")
            continue
        setattr(report, outcome, getattr(report, outcome) + 1)
    return report


def _import_row(row: dict[str, str], services: dict[str, Service]) -> str:
    resource = _find(row)
    created = resource is None
    if resource is None:
        resource = Resource()
        if (row.get("id") or "").strip():
            resource.id = uuid.UUID(row["id"].strip())
    before = None if created else _export_row(resource)
    for field in (
        "kind",
        "name",
        "description",
        "address",
        "postal_code",
        "commune_code",
        "commune_name",
        "department",
        "phone",
        "email",
        "website",
        "hours",
        "source",
        "source_ref",
    ):
        if field in row:
            setattr(resource, field, (row[field] or "").strip())
    for field in ("departments", "communes"):
        if field in row:
            setattr(resource, field, _split(row[field]))
    for field in ("is_national", "always_offer", "active"):
        if field in row and row[field].strip() != "":
            setattr(resource, field, row[field].strip().lower() in ("1", "true", "oui"))
    if "verified_at" in row:
        text = (row["verified_at"] or "").strip()
        resource.verified_at = date.fromisoformat(text) if text else None
    if not resource.source:
        resource.source = "import CSV"
    resource.full_clean(exclude=["services", "callback_services", "staff"])
    relations = {
        field: [services[slug] for slug in _split(row[field]) if slug in services]
        for field in ("services", "callback_services")
        if field in row
    }
    if not created:
        after = _export_row(resource)
        current = {field: after[field] for field in after if field not in relations}
        previous = {field: before[field] for field in before if field not in relations}
        same_relations = all(
            after[field]
            == LIST_SEPARATOR.join(sorted(service.slug for service in chosen))
            for field, chosen in relations.items()
        )
        if current == previous and same_relations:
            return "unchanged"
    resource.save()
    for field, chosen in relations.items():
        getattr(resource, field).set(chosen)
    return "created" if created else "updated"


def _find(row: dict[str, str]) -> Resource | None:
    key = (row.get("id") or "").strip()
    if key:
        found = Resource.objects.filter(id=uuid.UUID(key)).first()
        if found is not None:
            return found
    ref = (row.get("source_ref") or "").strip()
    if ref:
        return Resource.objects.filter(source_ref=ref).first()
    return None


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(LIST_SEPARATOR) if part.strip()]


def _error_text(error: Any) -> str:
    if isinstance(error, ValidationError) and hasattr(error, "message_dict"):
        return "; ".join(
            f"{field}: {' '.join(messages)}"
            for field, messages in error.message_dict.items()
        )
    return str(error)
