"""Add a year of traffic and a supervisor: ``python -m tests.browser.seed_stats``.

Runs after ``tests.browser.seed`` against the same ``DATABASE_URL`` and
prints the supervisor's session cookie as one JSON line.
"""

import json

import django


def main() -> None:
    django.setup()
    from django.utils import timezone

    from bench.stats import generate_traffic
    from chat.models import Service
    from console.models import StaffProfile
    from console.services import do_create_staff
    from stats.periods import PARIS
    from tests.factories import make_session_cookie

    national = Service.objects.get(slug="national")
    this_year = timezone.now().astimezone(PARIS).year
    for year, count in ((this_year - 1, 2500), (this_year, 3000)):
        generate_traffic(count, year=year, messages=4, seed=year, services=[national])
    supervisor = do_create_staff(
        username="stats-supervisor",
        password="stats-supervisor-password",
        roles=(StaffProfile.Role.SUPERVISOR,),
        services=(national,),
        pseudonym="Superviseure 3",
    )
    print(json.dumps({"cookie": make_session_cookie(supervisor).decode()}))


if __name__ == "__main__":
    main()
