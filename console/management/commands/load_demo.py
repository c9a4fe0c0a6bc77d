"""Load the demo's services and staff accounts, and print the accounts.

Passwords are generated on the first run and kept in an untracked file
(``var/demo-accounts.json``, mode 0600) so every later ``make run``
prints the same ones. Every account has a TOTP device (two-factor login
is mandatory); its secret is printed in base32 and as an ``otpauth://``
URI, so any authenticator app can be set up from the terminal.
"""

import json
import os
import secrets
from base64 import b32encode
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from django.db import transaction

from chat.models import Service
from console.models import CannedAnswer, StaffProfile
from console.services import do_create_staff, do_create_totp_device
from directory import demo as directory_demo
from escalation.demo import ensure_demo_escalation

SERVICES = [
    {
        "slug": "national",
        "name": "Plateforme nationale violences sexuelles et sexistes",
        "description": "Police et gendarmerie, 24 h/24, anonyme et gratuit.",
        "is_default": True,
    },
    {
        "slug": "enfance",
        "name": "Cellule de suivi protection de l'enfance",
        "description": "Suivi des situations d'enfants en danger.",
        "is_default": False,
    },
]

# username, pseudonym, roles, services (slugs)
ACCOUNTS = [
    ("operatrice", "Opératrice 12", [StaffProfile.Role.OPERATOR], ["national"]),
    ("operateur", "Opérateur 7", [StaffProfile.Role.OPERATOR], ["national"]),
    ("enfance", "Opératrice 21", [StaffProfile.Role.OPERATOR], ["enfance"]),
    (
        "psychologue",
        "Psychologue 3",
        [StaffProfile.Role.PSYCHOLOGIST],
        ["national", "enfance"],
    ),
    (
        "superviseure",
        "Superviseure 1",
        [StaffProfile.Role.SUPERVISOR],
        ["national", "enfance"],
    ),
    (
        "admin",
        "Administration",
        [StaffProfile.Role.ADMINISTRATOR],
        ["national", "enfance"],
    ),
    # Opens connection records of approved disclosures (escalation/).
    ("gardienne", "Dépositaire 1", [StaffProfile.Role.CUSTODIAN], ["national"]),
] + directory_demo.DEMO_ACCOUNTS
# May enter /admin/ (Django's staff and superuser flags), with the same
# password-and-TOTP login as everyone.
ADMINISTRATORS = {"admin"}

CANNED = [
    (
        "national",
        "Accueil",
        "Bonjour, je suis là pour vous écouter. Vous pouvez écrire à votre "
        "rythme ; cette conversation est anonyme.",
    ),
    (
        "national",
        "Danger immédiat",
        "Si vous êtes en danger immédiat, appelez le 17 ou le 112, ou "
        "envoyez un SMS au 114.",
    ),
    (
        "national",
        "Preuves",
        "Conservez les messages, photos et certificats médicaux : ils "
        "pourront servir si vous décidez de porter plainte.",
    ),
    (
        "enfance",
        "Accueil",
        "Bonjour, vous êtes en lien avec la cellule protection de l'enfance.",
    ),
]


class Command(BaseCommand):
    help = "Create the demo services and staff accounts (idempotent)."

    def handle(self, *args: object, **options: object) -> None:
        path = Path(settings.BASE_DIR) / "var/demo-accounts.json"
        passwords = json.loads(path.read_text()) if path.exists() else {}
        with transaction.atomic():
            services = {data["slug"]: self.ensure_service(data) for data in SERVICES}
            # Issue 6: the five helplines (police/gendarmerie queues, ...).
            services.update(directory_demo.ensure_demo_services())
            for username, pseudonym, roles, slugs in ACCOUNTS:
                user = User.objects.filter(username=username).first()
                if user is None:
                    passwords[username] = secrets.token_urlsafe(9)
                    user = do_create_staff(
                        username=username,
                        password=passwords[username],
                        pseudonym=pseudonym,
                        roles=roles,
                        services=[services[slug] for slug in slugs],
                    )
                else:
                    do_create_totp_device(user)
                if username in ADMINISTRATORS and not user.is_superuser:
                    user.is_staff = user.is_superuser = True
                    user.save(update_fields=["is_staff", "is_superuser"])
            # Issue 6: partner associations (keys, staff), care centres.
            partners = directory_demo.ensure_demo_directory(services, passwords)
            # Issue 12: consent texts and the local units reports go to.
            ensure_demo_escalation(services)
            for slug, title, body in CANNED:
                CannedAnswer.objects.get_or_create(
                    service=services[slug], title=title, defaults={"body": body}
                )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(passwords, handle)
        self.stdout.write(
            "Demo staff accounts (log in at /console/login/ with the password "
            "and a code from any authenticator app):"
        )
        for username, pseudonym, roles, slugs in ACCOUNTS:
            user = User.objects.get(username=username)
            device = do_create_totp_device(user)
            secret = b32encode(device.bin_key).decode()
            password = passwords.get(username, "(set before this file existed)")
            self.stdout.write(
                f"  {username:<13} password {password:<14} "
                f"{'/'.join(roles):<13} {','.join(slugs):<16} "
                f"shown to visitors as «{pseudonym}»"
            )
            self.stdout.write(f"      TOTP secret {secret}")
            self.stdout.write(f"      {device.config_url}")
            if username in ADMINISTRATORS:
                self.stdout.write("      also enters /admin/ (same password and code)")
        directory_demo.print_demo_directory(self.stdout.write, partners)

    def ensure_service(self, data: dict) -> Service:
        service, _ = Service.objects.update_or_create(
            slug=data["slug"], defaults={k: v for k, v in data.items() if k != "slug"}
        )
        return service
