"""Prepare the routing browser tests' database (issue 10).

Run as ``python -m tests.browser.seed_routing`` against ``DATABASE_URL``.
Real reference rows for the communes the tests type, the demo's way in to
each service, and one operator per queue. Prints the operators' session
cookies as one JSON line.
"""

import json

import django

CLOSED = {"mon": []}  # a schedule with no slot: always closed ("at night")


def main() -> None:
    django.setup()
    from django.core.management import call_command

    from console.models import StaffProfile
    from console.services import do_create_staff
    from directory.models import Resource
    from directory.services import do_create_partner_key
    from tests.factories import make_operator, make_service, make_session_cookie
    from tests.reference_data import load_real_places

    call_command("migrate", interactive=False, verbosity=0)
    # Lille, Saint-André-lez-Lille (whose postal code is Lille's INSEE code),
    # Clermont-Ferrand, Picherande (63113 is its postal code), Arles,
    # Ivry-sur-Seine (94200), Saint-Denis (93) and Saint-Denis (La Réunion).
    load_real_places(
        "59350", "59527", "63113", "63279", "13004", "94041", "93066", "97411"
    )
    police = make_service(
        "national",
        name="Plateforme nationale VSS — police nationale",
        is_default=True,
        routing_group="plateforme-vss",
        force="PN",
    )
    gendarmerie = make_service(
        "national-gendarmerie",
        name="Plateforme nationale VSS — gendarmerie nationale",
        is_default=False,
        routing_group="plateforme-vss",
        force="GN",
    )
    make_service(
        "ecoute-94",
        name="Ligne d'écoute violences du Val-de-Marne",
        is_default=False,
        departments=["94"],
        priority=10,
        opening_hours=CLOSED,
        hours_text="tous les jours, de 8 h à 22 h",
        overflow_service=police,
    )
    orientation = make_service(
        "orientation-prevention",
        name="Ligne d'orientation — attirance sexuelle envers les enfants",
        is_default=False,
        topic="attraction",
        roles=["concerned", "relative", "professional"],
    )
    discriminations = make_service(
        "discriminations",
        name="Discriminations et cyberharcèlement",
        description="Information et orientation des victimes de discriminations.",
        is_default=False,
        topic="discrimination",
    )
    # A line offering callbacks, reached by its own address only.
    callbacks = make_service(
        "rappel",
        name="Ligne d'écoute avec rappel (test)",
        is_default=False,
        offers_callbacks=True,
    )
    partner = Resource.objects.create(
        kind="association",
        name="Association de rappel (test)",
        description="Aide aux victimes, rappel sous 48 h.",
        hours="lun.–ven. 9 h–17 h",
        department="94",
        source="test",
    )
    partner.callback_services.set([callbacks])
    do_create_partner_key(partner, passphrase=b"browser test passphrase")
    partner_user = do_create_staff(
        username="partner-routing",
        password="pw-long-enough-123",
        pseudonym="Association de rappel",
        roles=[StaffProfile.Role.OPERATOR],
        services=[],
    )
    partner.staff.add(partner_user)
    cookies = {
        name: make_session_cookie(make_operator(service)).decode()
        for name, service in (
            ("police", police),
            ("gendarmerie", gendarmerie),
            ("orientation", orientation),
            ("discriminations", discriminations),
            ("callbacks", callbacks),
        )
    }
    cookies["partner"] = make_session_cookie(partner_user).decode()
    print(json.dumps({"cookies": cookies}))


if __name__ == "__main__":
    main()
