"""Test data made through the real services, as production data is."""

from itertools import count

from django.contrib.auth.models import User
from django.db.models import Count

from chat.models import Commune, Conversation, PostalCode, Service
from chat.services import do_start_conversation
from console.models import StaffProfile
from console.services import do_create_login_session, do_create_staff

_numbers = count(1)


def make_commune(
    code_insee: str = "33063",
    name: str = "Bordeaux",
    *,
    postal_codes: tuple[str, ...] = ("33000", "33100", "33200", "33300", "33800"),
    department: str = "33",
    kind: str = Commune.Kind.CURRENT,
    parent_code: str = "",
) -> Commune:
    from chat.places import normalize_place_name

    commune, _ = Commune.objects.get_or_create(
        code_insee=code_insee,
        kind=kind,
        defaults={
            "name": name,
            "search_name": normalize_place_name(name),
            "department": department,
            "parent_code": parent_code,
        },
    )
    for code in postal_codes:
        PostalCode.objects.get_or_create(code=code, commune=commune)
    return commune


def make_service(slug: str = "national", **fields: object) -> Service:
    fields.setdefault("name", f"Service {slug}")
    fields.setdefault("is_default", slug == "national")
    service, _ = Service.objects.get_or_create(slug=slug, defaults=fields)
    return service


def make_staff(
    *,
    roles: tuple[str, ...] = (StaffProfile.Role.OPERATOR,),
    services: tuple[Service, ...] = (),
    pseudonym: str | None = None,
) -> User:
    number = next(_numbers)
    return do_create_staff(
        username=f"staff{number}",
        password=f"pw-{number}-long-enough",
        pseudonym=pseudonym or f"Opératrice {number}",
        roles=roles,
        services=services or (make_service(),),
    )


def make_operator(*services: Service, pseudonym: str | None = None) -> User:
    return make_staff(services=services, pseudonym=pseudonym)


def make_session_cookie(user: User) -> bytes:
    return f"sessionid={do_create_login_session(user)}".encode()


def make_conversation(
    service: Service | None = None, *, role: str = "victim"
) -> tuple[Conversation, str]:
    return do_start_conversation(
        service=service or make_service(),
        visitor_role=role,
        commune=make_commune(),
        place_label="33000 Bordeaux",
    )


def get_outcome_counts() -> dict[str, dict[str, int]]:
    """Return closed-conversation counts by service and outcome (purge tests).

    Built only from what retention keeps, so purges never change it.
    """
    rows = (
        Conversation.objects.filter(status=Conversation.Status.CLOSED)
        .values_list("service__slug", "outcome")
        .annotate(total=Count("id"))
    )
    counts: dict[str, dict[str, int]] = {}
    for slug, outcome, total in rows:
        counts.setdefault(slug, {})[outcome] = total
    return counts
