"""A Django process that creates integration-test data on request.

Run by ``processes.SeedWorker``: one JSON request per stdin line, one
answer per stdout line. Data is made with tests/factories.py, so it takes
the same path (the real services) as production data.
"""

import io
import json
import sys
import traceback
from typing import Any

REPLY_MARK = "@@seed@@ "


def migrate() -> dict[str, Any]:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0, stdout=io.StringIO())
    return {}


def base() -> dict[str, Any]:
    """The reference data every scenario shares."""
    from tests.factories import make_commune, make_service

    service = make_service("national", name="Plateforme nationale")
    commune = make_commune("33063", "Bordeaux", postal_codes=("33000",))
    return {"service": service.slug, "commune": commune.code_insee}


def team(slug: str, operators: int) -> dict[str, Any]:
    """A service of its own and ``operators`` logged-in operators of it."""
    from tests.factories import make_operator, make_service, make_session_cookie

    service = make_service(slug, name=f"Service {slug}")
    people = []
    for number in range(1, operators + 1):
        pseudonym = f"Op {slug[-6:]} {number}"
        user = make_operator(service, pseudonym=pseudonym)
        people.append(
            {
                "user_id": user.id,
                "pseudonym": pseudonym,
                "cookie": make_session_cookie(user).decode(),
            }
        )
    return {"service": service.slug, "operators": people}


OPERATIONS = {"migrate": migrate, "base": base, "team": team}


def main() -> None:
    import django

    django.setup()
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        operation = OPERATIONS[request.pop("op")]
        try:
            reply = {"result": operation(**request)}
        except Exception:  # noqa: BLE001 - reported to the test process.
            reply = {"error": traceback.format_exc()}
        sys.stdout.write(REPLY_MARK + json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
