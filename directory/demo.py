"""The demo's five helplines, partner associations and care centres.

Called by ``manage.py load_demo`` (idempotent). The services are modelled
on real ones; every directory entry made here is fictional, says so in
its name and source, and uses the 01 99 00 xx xx numbers that ARCEP keeps
for fiction, so no real person is ever called from the demo.

Each partner association gets a key pair for sealed callback requests:
the private key is written, passphrase-protected, to
``var/partner-keys/<entry>.pem`` and its passphrase to
``var/demo-partner-keys.json`` (both mode 0600), for the association's
demo staff to open requests with.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
from base64 import b32encode
from collections import defaultdict
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User

from chat.models import Service
from console.models import StaffProfile
from console.services import do_create_staff, do_create_totp_device
from directory.models import Resource
from directory.services import do_create_partner_key

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
EVERY_DAY = (*WEEKDAYS, "sat", "sun")
OFFICE_HOURS = {day: [["09:00", "18:00"]] for day in WEEKDAYS}
PUBLIC_HOLIDAYS = [
    "01-01",
    "05-01",
    "05-08",
    "07-14",
    "08-15",
    "11-01",
    "11-11",
    "12-25",
]
PLATFORM_GROUP = "plateforme-vss"
DEMO_SOURCE = "Démo : entrée fictive (numéro réservé à la fiction par l'ARCEP)"

# update_or_create'd by slug; "national" keeps its slug (canned answers,
# clients and tests use it) and is the police queue of the platform.
DEMO_SERVICES: list[dict[str, Any]] = [
    {
        "slug": "national",
        "name": "Plateforme nationale VSS — police nationale",
        "description": (
            "Signalement des violences sexuelles et sexistes, 24 h/24, anonyme "
            "et gratuit : un policier ou un gendarme selon votre commune."
        ),
        "is_default": True,
        "routing_group": PLATFORM_GROUP,
        "force": "PN",
        "opening_hours": {},
        "psychologist_hours": OFFICE_HOURS,
        "priority": 0,
    },
    {
        "slug": "national-gendarmerie",
        "name": "Plateforme nationale VSS — gendarmerie nationale",
        "description": (
            "Signalement des violences sexuelles et sexistes, 24 h/24, anonyme "
            "et gratuit : un policier ou un gendarme selon votre commune."
        ),
        "is_default": False,
        "routing_group": PLATFORM_GROUP,
        "force": "GN",
        "opening_hours": {},
        "psychologist_hours": OFFICE_HOURS,
        "priority": 0,
    },
    {
        "slug": "enfance",
        "name": "Cellule de suivi protection de l'enfance",
        "description": (
            "Suivi des situations d'enfants en danger transmises par les "
            "autres lignes : travailleurs sociaux, psychologue, juriste."
        ),
        "is_default": False,
        "accepts_visitors": False,
        "opening_hours": {},
        "priority": 0,
        # Takes no visitors directly: "a child in danger" reaches the
        # platform (and 119 on the page), which transfers here.
        "topic": "child",
    },
    {
        "slug": "ecoute-94",
        "name": "Ligne d'écoute violences du Val-de-Marne",
        "description": (
            "Écoute des habitantes et habitants du Val-de-Marne (94) ; une "
            "association partenaire peut vous rappeler."
        ),
        "is_default": False,
        "departments": ["94"],
        "offers_callbacks": True,
        "opening_hours": {day: [["08:00", "22:00"]] for day in EVERY_DAY},
        "closed_days": PUBLIC_HOLIDAYS,
        "priority": 10,
        # Issue 10: at night and on holidays the national chat answers.
        "overflow_service": "national",
    },
    {
        "slug": "orientation-prevention",
        "name": "Ligne d'orientation — attirance sexuelle envers les enfants",
        "description": (
            "Pour les personnes inquiètes de leur attirance sexuelle envers "
            "des enfants : écoute anonyme et orientation vers un centre de "
            "soins de leur région, avant tout passage à l'acte."
        ),
        "is_default": False,
        "opening_hours": {day: [["09:00", "21:00"]] for day in (*WEEKDAYS, "sat")},
        "closed_days": PUBLIC_HOLIDAYS,
        "emergency_notice": (
            "Si un enfant est en danger immédiat, appelez le 17 ou le 112, ou "
            "le 119 (Allô Enfance en danger)."
        ),
        "priority": 0,
        "topic": "attraction",
        "roles": ["concerned", "relative", "professional"],
    },
    {
        "slug": "discriminations",
        "name": "Discriminations et cyberharcèlement",
        "description": (
            "Information et orientation des victimes de discriminations, de "
            "harcèlement en ligne et de violences numériques."
        ),
        "is_default": False,
        "opening_hours": {day: [["09:00", "21:00"]] for day in EVERY_DAY},
        "priority": 0,
        "topic": "discrimination",
    },
]

# username, pseudonym, roles, services: appended to load_demo's ACCOUNTS.
DEMO_ACCOUNTS = [
    ("gendarme", "Gendarme 5", [StaffProfile.Role.OPERATOR], ["national-gendarmerie"]),
    (
        "travailleur-social",
        "Travailleur social 4",
        [StaffProfile.Role.OPERATOR],
        ["enfance"],
    ),
    ("juriste", "Juriste 2", [StaffProfile.Role.OPERATOR], ["enfance"]),
    ("ecoutante1", "Écoutante 1", [StaffProfile.Role.OPERATOR], ["ecoute-94"]),
    ("ecoutante2", "Écoutante 2", [StaffProfile.Role.OPERATOR], ["ecoute-94"]),
    ("ecoutant3", "Écoutant 3", [StaffProfile.Role.OPERATOR], ["ecoute-94"]),
    ("ecoutante4", "Écoutante 4", [StaffProfile.Role.OPERATOR], ["ecoute-94"]),
    (
        "orientation",
        "Écoutant 8",
        [StaffProfile.Role.OPERATOR],
        ["orientation-prevention"],
    ),
    (
        "discriminations",
        "Conseillère 6",
        [StaffProfile.Role.OPERATOR],
        ["discriminations"],
    ),
]

# Memberships added to accounts load_demo creates for other issues.
EXTRA_MEMBERSHIPS = {
    "psychologue": ["national-gendarmerie"],
    "superviseure": [
        "national-gendarmerie",
        "ecoute-94",
        "orientation-prevention",
        "discriminations",
    ],
}

PARTNERS = [
    {
        "source_ref": "demo:partenaire-aav94",
        "username": "partenaire-aav94",
        "kind": Resource.Kind.VICTIM_SUPPORT,
        "name": "Association d'aide aux victimes du Val-de-Marne (démo)",
        "description": "Aide aux victimes, accompagnement juridique et psychologique.",
        "address": "1 rue de la Démonstration",
        "postal_code": "94000",
        "commune_code": "94028",
        "commune_name": "Créteil",
        "phone": "01 99 00 94 01",
        "hours": "lun.–ven. 9 h–17 h",
    },
    {
        "source_ref": "demo:partenaire-mdf94",
        "username": "partenaire-mdf94",
        "kind": Resource.Kind.ASSOCIATION,
        "name": "Maison des femmes du Val-de-Marne (démo)",
        "description": "Accueil des femmes victimes de violences, permanences.",
        "address": "2 avenue de l'Exemple",
        "postal_code": "94400",
        "commune_code": "94081",
        "commune_name": "Vitry-sur-Seine",
        "phone": "01 99 00 94 02",
        "hours": "lun.–sam. 10 h–19 h",
    },
    {
        "source_ref": "demo:partenaire-jeunes94",
        "username": "partenaire-jeunes94",
        "kind": Resource.Kind.ASSOCIATION,
        "name": "Point d'écoute jeunes 94 (démo)",
        "description": "Écoute des 12–25 ans, violences et harcèlement.",
        "address": "3 place du Modèle",
        "postal_code": "94200",
        "commune_code": "94041",
        "commune_name": "Ivry-sur-Seine",
        "phone": "01 99 00 94 03",
        "hours": "mer.–sam. 13 h–20 h",
    },
]


def ensure_demo_services() -> dict[str, Service]:
    """Create or update the five demo helplines; return them by slug."""
    services = {}
    for data in DEMO_SERVICES:
        defaults = {
            key: value
            for key, value in data.items()
            if key not in ("slug", "overflow_service")
        }
        service, _ = Service.objects.update_or_create(
            slug=data["slug"], defaults=defaults
        )
        services[service.slug] = service
    # Overflow targets once every service exists.
    for data in DEMO_SERVICES:
        if "overflow_service" in data:
            service = services[data["slug"]]
            service.overflow_service = services[data["overflow_service"]]
            service.save(update_fields=["overflow_service"])
    return services


def ensure_demo_directory(
    services: dict[str, Service], passwords: dict[str, str]
) -> list[dict[str, str]]:
    """Create the demo's directory entries, partner staff and keys.

    Returns, per partner, what load_demo prints: login, key file and
    passphrase. ``passwords`` gets the new partner accounts' passwords.
    """
    for username, slugs in EXTRA_MEMBERSHIPS.items():
        profile = StaffProfile.objects.filter(user__username=username).first()
        if profile is not None:
            profile.services.add(
                *[services[slug] for slug in slugs if slug in services]
            )
    _ensure_care_centres(services["orientation-prevention"])
    _ensure_national_extra(services["discriminations"])
    return [
        _ensure_partner(data, services["ecoute-94"], passwords) for data in PARTNERS
    ]


def _ensure_partner(
    data: dict[str, Any], service: Service, passwords: dict[str, str]
) -> dict[str, str]:
    fields = {
        key: value
        for key, value in data.items()
        if key not in ("source_ref", "username")
    }
    resource, _ = Resource.objects.update_or_create(
        source_ref=data["source_ref"],
        defaults={
            **fields,
            "department": "94",
            "departments": ["94"],
            "source": DEMO_SOURCE,
        },
    )
    resource.services.set([service])
    resource.callback_services.set([service])
    user = User.objects.filter(username=data["username"]).first()
    if user is None:
        passwords[data["username"]] = secrets.token_urlsafe(9)
        # Partners log in like staff (password and TOTP code), with no
        # service: they see only their association's callback queue.
        user = do_create_staff(
            username=data["username"],
            password=passwords[data["username"]],
            pseudonym=resource.name[:80],
            roles=[StaffProfile.Role.OPERATOR],
            services=[],
        )
    resource.staff.add(user)
    key_path, passphrase = _ensure_partner_key(resource)
    return {
        "username": data["username"],
        "password": passwords.get(data["username"], "(set before this file existed)"),
        "name": resource.name,
        "key_file": str(key_path),
        "passphrase": passphrase,
    }


def _ensure_partner_key(resource: Resource) -> tuple[Path, str]:
    """Give the partner a key pair unless its key file is already there."""
    base = Path(settings.BASE_DIR) / "var"
    key_dir = base / "partner-keys"
    phrases_path = base / "demo-partner-keys.json"
    phrases = json.loads(phrases_path.read_text()) if phrases_path.exists() else {}
    key_path = key_dir / f"{resource.source_ref.split(':', 1)[1]}.pem"
    passphrase = phrases.get(str(resource.id))
    if resource.public_key and key_path.exists() and passphrase:
        return key_path, passphrase
    passphrase = secrets.token_urlsafe(12)
    pem = do_create_partner_key(resource, passphrase=passphrase.encode())
    key_dir.mkdir(parents=True, exist_ok=True)
    _write_private(key_path, pem)
    phrases[str(resource.id)] = passphrase
    _write_private(phrases_path, json.dumps(phrases).encode())
    return key_path, passphrase


def _write_private(path: Path, content: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)


def _ensure_care_centres(service: Service) -> None:
    """One fictional regional care centre per region, for the orientation line."""
    regions: dict[str, dict[str, Any]] = defaultdict(lambda: {"departments": []})
    path = Path(settings.DATA_DIR) / "departements.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            region = regions[row["region"]]
            region["name"] = row["nom_region"]
            region["departments"].append(row["code"])
    for number, (code, region) in enumerate(sorted(regions.items()), start=1):
        resource, _ = Resource.objects.update_or_create(
            source_ref=f"demo:centre-ressource-{code}",
            defaults={
                "kind": Resource.Kind.CARE_CENTRE,
                "name": f"Centre ressource régional — {region['name']} (démo)",
                "description": (
                    "Centre de soins et de prévention pour les personnes "
                    "inquiètes de leur attirance envers les enfants (modèle : "
                    "CRIAVS). Entrée fictive."
                ),
                "departments": region["departments"],
                "phone": f"01 99 00 {60 + number:02d} 00",
                "hours": "lun.–ven. 9 h–17 h",
                "source": DEMO_SOURCE,
            },
        )
        resource.services.set([service])


def _ensure_national_extra(service: Service) -> None:
    """National numbers of the discrimination service (to verify)."""
    resource, _ = Resource.objects.update_or_create(
        source_ref="demo:defenseur-des-droits",
        defaults={
            "kind": Resource.Kind.NATIONAL,
            "name": "Défenseur des droits — discriminations",
            "description": (
                "Écoute et conseil juridique des victimes de discriminations."
            ),
            "phone": "39 28",
            "website": "https://www.defenseurdesdroits.fr",
            "is_national": True,
            "source": "Démo : saisie manuelle, à vérifier sur service-public.fr",
        },
    )
    resource.services.set([service])


def print_demo_directory(write: Any, partners: list[dict[str, str]]) -> None:
    """Print the partner associations' logins and key files."""
    write(
        "Partner associations of the Val-de-Marne line (log in at "
        "/console/login/?next=/directory/callbacks/; open a request with "
        "the key file and its passphrase):"
    )
    for partner in partners:
        write(
            f"  {partner['username']:<20} password {partner['password']:<14} "
            f"«{partner['name']}»"
        )
        device = do_create_totp_device(User.objects.get(username=partner["username"]))
        write(f"      TOTP secret {b32encode(device.bin_key).decode()}")
        write(f"      {device.config_url}")
        write(
            f"      key file {partner['key_file']}  passphrase {partner['passphrase']}"
        )
