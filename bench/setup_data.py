"""Create the bench service and operator accounts, one session each.

A Django script, run by ``bench.run`` after ``migrate`` with the same
environment as the servers::

    python -m bench.setup_data --operators 320 --per-operator 5 --out FILE

Writes ``{"service": "bench", "sessions": ["<session key>", ...]}`` to FILE
(mode 0600: the keys log the accounts in). The accounts' passwords are
random and never used (the load generator connects with the session key),
so they are hashed with a fast hasher; that is the only setting changed.
"""

import argparse
import json
import os
import secrets
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--operators", type=int, required=True)
    parser.add_argument("--per-operator", type=int, default=5)
    parser.add_argument("--service", default="bench")
    parser.add_argument("--prefix", default="bench-op")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()

    from django.db import transaction
    from django.test import override_settings

    from chat.models import Service
    from console.services import do_create_login_session, do_create_staff

    with transaction.atomic():
        service, _ = Service.objects.get_or_create(
            slug=args.service,
            defaults={"name": "Bench", "is_default": True, "active": True},
        )
        # Be the only default, always open, for every place and role.
        Service.objects.exclude(pk=service.pk).filter(is_default=True).update(
            is_default=False
        )
        service.is_default = True
        service.active = True
        service.departments = []
        service.roles = []
        service.opening_hours = {}
        for name, value in (
            ("communes", []),
            ("closed_days", []),
            ("accepts_visitors", True),
        ):
            if hasattr(service, name):
                setattr(service, name, value)
        service.save()

    sessions: list[str] = []
    fast = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with override_settings(PASSWORD_HASHERS=fast):
        for i in range(args.operators):
            user = do_create_staff(
                username=f"{args.prefix}-{i}",
                password=secrets.token_urlsafe(16),
                pseudonym=f"Bench {i}",
                roles=["operator"],
                services=[service],
                max_conversations=args.per_operator,
            )
            sessions.append(do_create_login_session(user))

    out = Path(args.out)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"service": service.slug, "sessions": sessions}, handle)
    print(f"{len(sessions)} operator sessions for service {service.slug} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
