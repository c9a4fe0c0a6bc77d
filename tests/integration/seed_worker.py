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


def approved_disclosure() -> dict[str, Any]:
    """A flagged conversation with a sealed connection and an approved
    disclosure request, through the real services (escalation issue).

    Installs a throwaway sealing key for the month and returns its private
    half, so the test can check what the database hands over.
    """
    import uuid

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from django.utils import timezone

    from anonymity.models import SealingKey
    from anonymity.sealing import do_seal_connection, month_key_id
    from chat.models import ConsentText
    from escalation import disclosure
    from tests.factories import make_conversation, make_service, make_staff

    private = X25519PrivateKey.generate()
    now = timezone.now()
    SealingKey.objects.update_or_create(
        key_id=month_key_id(now),
        defaults={
            "public_key": private.public_key().public_bytes(
                serialization.Encoding.DER,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            ),
            "destroyed_at": None,
        },
    )
    slug = f"esc-{uuid.uuid4().hex[:8]}"
    service = make_service(slug, name=f"Service {slug}")
    ConsentText.objects.create(service=service, version="1", text="Texte.")
    operator = make_staff(roles=("operator",), services=(service,))
    supervisor = make_staff(roles=("supervisor",), services=(service,))
    conversation, _token = make_conversation(service)
    conversation.minor = True
    conversation.save()
    do_seal_connection(conversation.id, ip="203.0.113.77", port=51515, seen_at=now)
    request = disclosure.check_request_disclosure(
        operator.staff,
        conversation.id,
        ground="minor",
        justification="Victime mineure en danger, test d'intégration.",
    )
    disclosure.check_endorse(supervisor.staff, request.id)
    disclosure.check_record_decision(
        supervisor.staff,
        request.id,
        decision="approved",
        parquet_reference="PARQUET-IT-1",
        magistrate="M. Martin",
        decision_date=timezone.localdate(),
    )
    return {
        "request": str(request.id),
        "conversation": str(conversation.id),
        "key_id": month_key_id(now),
        "private_key": private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        ).hex(),
    }


def deactivate(user_id: int) -> dict[str, Any]:
    """Deactivate an account as an administrator would (issue 11)."""
    from django.contrib.auth.models import User

    user = User.objects.get(pk=user_id)
    user.is_active = False
    user.save()
    return {}


def conversation(slug: str) -> dict[str, Any]:
    """A waiting conversation of service ``slug``."""
    from chat.models import Service
    from tests.factories import make_conversation

    conversation, _token = make_conversation(Service.objects.get(slug=slug))
    return {"conversation": str(conversation.id)}


def claim(conversation: str, user_id: int) -> dict[str, Any]:
    """Put the operator ``user_id`` in charge of ``conversation``."""
    from console.models import StaffProfile
    from console.services import check_claim_conversation

    profile = StaffProfile.objects.get(user_id=user_id)
    check_claim_conversation(profile, conversation)
    return {}


def send(
    conversation: str,
    client_id: str,
    expect_seq: int | None = None,
    operator: int | None = None,
    grant_version: int | None = None,
) -> dict[str, Any]:
    """Store a message as the visitor (or as ``operator`` in charge, with
    a held grant) the way the sockets do, and say what it took.

    ``queries``: the SQL statements run, as the database saw them.
    """
    import time

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from chat.models import Conversation
    from chat.services import check_send_message
    from console.auth import Grant
    from console.models import StaffProfile
    from console.services import check_send_in_charge_message

    with CaptureQueriesContext(connection) as queries:
        if operator is None:
            stored = check_send_message(
                Conversation.objects.get(id=conversation),
                text="Bonjour",
                client_id=client_id,
                expect_seq=expect_seq,
            )
        else:
            profile = StaffProfile.objects.prefetch_related("services").get(
                user_id=operator
            )
            grant = Grant(version=grant_version, expires_at=time.time() + 60)
            stored = check_send_in_charge_message(
                profile,
                grant,
                conversation,
                text="Bonjour",
                client_id=client_id,
                expect_seq=expect_seq,
            )
    # The queries of the Conversation and profile reads are not the write's.
    sql = [q["sql"] for q in queries.captured_queries]
    writes = [q for q in sql if not q.startswith("SELECT")]
    return {
        "seq": None if stored is None else stored[0].seq,
        "created": None if stored is None else stored[1],
        "writes": writes,
    }


def send_in_loop(conversation: str, client_id: str, expect_seq: int) -> dict[str, Any]:
    """Store a visitor message the way a socket's event loop does, and say
    how many statements the loop sent for it."""
    import asyncio
    import uuid

    from anonymity.crypto import load_data_key
    from chat.services.messages import store_expected_in_loop, visitor_draft
    from realtime.loopdb import loop_connections

    conversation_id = uuid.UUID(conversation)
    load_data_key(conversation_id)
    draft = visitor_draft(conversation_id, text="Bonjour", client_id=client_id)
    pool = loop_connections()
    sent: list[str] = []
    fetch_one = pool.fetch_one

    async def counted(sql: str, params: Any, order: str = "") -> Any:
        sent.append(sql)
        return await fetch_one(sql, params, order=order)

    pool.fetch_one = counted
    try:
        stored = asyncio.run(store_expected_in_loop(draft, expect_seq))
    finally:
        del pool.fetch_one
    return {
        "seq": None if stored is None else stored[0].seq,
        "statements": len(sent),
    }


def close(conversation: str) -> dict[str, Any]:
    """Close ``conversation`` as its operator would."""
    from chat.models import Conversation

    Conversation.objects.filter(id=conversation).update(
        status=Conversation.Status.CLOSED
    )
    return {}


def prepared() -> dict[str, Any]:
    """The statements PostgreSQL holds prepared for this worker's connection."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return {"statements": [row[0] for row in cursor.fetchall()]}


OPERATIONS = {
    "migrate": migrate,
    "base": base,
    "team": team,
    "approved_disclosure": approved_disclosure,
    "deactivate": deactivate,
    "conversation": conversation,
    "claim": claim,
    "send": send,
    "send_in_loop": send_in_loop,
    "close": close,
    "prepared": prepared,
}


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
