"""Create a staff account (profile, roles, services, TOTP device).

For a deployment: the demo's accounts come from ``load_demo``. The
password is asked twice (or read from ``--password-file``); the TOTP
secret is printed once, for the person's authenticator app::

    python manage.py create_staff jdupont --pseudonym "Opératrice 12" \\
        --role operator --service national
"""

import getpass
from base64 import b32encode
from pathlib import Path

from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.models import Service
from console.models import StaffProfile
from console.services import do_create_staff


class Command(BaseCommand):
    help = "Create a staff account with its TOTP device and print the secret."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--pseudonym", required=True, help="shown to visitors")
        parser.add_argument(
            "--role",
            action="append",
            required=True,
            choices=[role.value for role in StaffProfile.Role],
        )
        parser.add_argument(
            "--service", action="append", required=True, help="service slug"
        )
        parser.add_argument("--password-file", help="read the password from a file")
        parser.add_argument("--max-conversations", type=int, default=3)

    def handle(self, *args: object, **options: object) -> None:
        username = str(options["username"])
        if User.objects.filter(username=username).exists():
            raise CommandError(f"An account named {username!r} already exists.")
        slugs = list(options["service"])
        services = list(Service.objects.filter(slug__in=slugs))
        missing = set(slugs) - {service.slug for service in services}
        if missing:
            raise CommandError(f"Unknown service(s): {', '.join(sorted(missing))}.")
        password = self.read_password(options.get("password_file"))
        try:
            validate_password(password, User(username=username))
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        user = do_create_staff(
            username=username,
            password=password,
            pseudonym=str(options["pseudonym"]),
            roles=list(options["role"]),
            services=services,
            max_conversations=int(options["max_conversations"]),
        )
        device = user.totpdevice_set.get(confirmed=True)
        self.stdout.write(f"Created {username}; TOTP for an authenticator app:")
        self.stdout.write(f"  secret {b32encode(device.bin_key).decode()}")
        self.stdout.write(f"  {device.config_url}")

    def read_password(self, path: object) -> str:
        if path:
            return Path(str(path)).read_text().strip()
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password (again): "):
            raise CommandError("The two passwords differ.")
        return first
