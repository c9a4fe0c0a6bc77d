"""Give a staff account its TOTP device, and print the secret once.

Every login (console and ``/admin/``) asks for a code, so an account made
with ``createsuperuser`` cannot log in until it has a device::

    python manage.py add_totp_device USERNAME          # first device
    python manage.py add_totp_device USERNAME --reset  # lost phone

The secret is printed in base32 and as an ``otpauth://`` URI (paste it in
an authenticator app or a QR-code generator on the same machine).
"""

from base64 import b32encode

from django_otp.plugins.otp_totp.models import TOTPDevice

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.services import do_create_totp_device, do_replace_totp_device


class Command(BaseCommand):
    help = "Give a staff account a TOTP device and print its secret."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--reset",
            action="store_true",
            help="replace an existing device: codes from the old one stop working",
        )

    def handle(self, *args: object, **options: object) -> None:
        username = str(options["username"])
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No account named {username!r}.")
        if not (user.is_staff or hasattr(user, "staff")):
            raise CommandError(
                f"{username!r} is not a staff account (no staff flag, no profile)."
            )
        if TOTPDevice.objects.filter(user=user).exists() and not options["reset"]:
            raise CommandError(
                f"{username!r} already has a TOTP device. To replace it (the old "
                "codes stop working): add_totp_device --reset " + username
            )
        if options["reset"]:
            device = do_replace_totp_device(user)
        else:
            device = do_create_totp_device(user)
        self.stdout.write(f"TOTP device for {username}, for an authenticator app:")
        self.stdout.write(f"  secret {b32encode(device.bin_key).decode()}")
        self.stdout.write(f"  {device.config_url}")
        self.stdout.write(
            "Shown once: it is not printed again (run with --reset for a new one)."
        )
