"""Load the demo's services and staff accounts, and print the accounts.

Passwords are generated on the first run and kept in an untracked file
(``var/demo-accounts.json``, mode 0600) so every later ``make run``
prints the same ones.
"""

import json
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from django.db import transaction

from chat.models import Service
from console.models import StaffProfile
from console.services import do_create_staff

SERVICES = [
    {
        "slug": "national",
        "name": "Plateforme nationale violences sexuelles et sexistes",
        "description": "Police et gendarmerie, 24 h/24, anonyme et gratuit.",
        "is_default": True,
    },
]

ACCOUNTS = [
    ("operatrice", "Opératrice 12", [StaffProfile.Role.OPERATOR]),
    ("operateur", "Opérateur 7", [StaffProfile.Role.OPERATOR]),
    ("psychologue", "Psychologue 3", [StaffProfile.Role.PSYCHOLOGIST]),
    ("superviseure", "Superviseure 1", [StaffProfile.Role.SUPERVISOR]),
]


class Command(BaseCommand):
    help = "Create the demo services and staff accounts (idempotent)."

    def handle(self, *args: object, **options: object) -> None:
        path = Path(settings.BASE_DIR) / "var/demo-accounts.json"
        passwords = json.loads(path.read_text()) if path.exists() else {}
        with transaction.atomic():
            services = [self.ensure_service(data) for data in SERVICES]
            for username, pseudonym, roles in ACCOUNTS:
                if User.objects.filter(username=username).exists():
                    continue
                passwords[username] = secrets.token_urlsafe(9)
                do_create_staff(
                    username=username,
                    password=passwords[username],
                    pseudonym=pseudonym,
                    roles=roles,
                    services=services,
                )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(passwords, handle)
        self.stdout.write("Demo staff accounts (log in at /console/login/):")
        for username, pseudonym, roles in ACCOUNTS:
            password = passwords.get(username, "(set before this file existed)")
            self.stdout.write(
                f"  {username:<14} password {password:<14} "
                f"{'/'.join(roles):<14} shown to visitors as «{pseudonym}»"
            )

    def ensure_service(self, data: dict) -> Service:
        service, _ = Service.objects.update_or_create(
            slug=data["slug"], defaults={k: v for k, v in data.items() if k != "slug"}
        )
        return service
