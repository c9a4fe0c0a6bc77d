"""Prepare a browser-test database: run as ``python -m tests.browser.seed``.

Runs in its own process against ``DATABASE_URL`` (the file the Daphne under
test serves), so the test process's own database is never touched. Prints
what the test needs (the operator's session cookie) as one JSON line.
"""

import json

import django


def main() -> None:
    django.setup()
    from django.core.management import call_command

    from tests.factories import (
        make_commune,
        make_operator,
        make_service,
        make_session_cookie,
    )

    call_command("migrate", interactive=False, verbosity=0)
    make_commune()
    make_commune(
        "33449", "Saint-Médard-en-Jalles", postal_codes=("33160",), department="33"
    )
    make_commune(
        "33376", "Saint-Aubin-de-Médoc", postal_codes=("33160",), department="33"
    )
    make_commune("75056", "Paris", postal_codes=("75011",), department="75")
    national = make_service(
        "national", name="Plateforme nationale violences sexuelles et sexistes"
    )
    make_service(
        "paris-jour",
        name="Écoute Paris",
        departments=["75"],
        # A schedule with no slot on any day: always closed.
        opening_hours={"mon": []},
        hours_text="du lundi au vendredi, de 9 h à 18 h",
        priority=10,
    )
    operator = make_operator(national, pseudonym="Opératrice 12")
    cookie = make_session_cookie(operator).decode()
    print(json.dumps({"cookie": cookie}))


if __name__ == "__main__":
    main()
