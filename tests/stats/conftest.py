"""A known month of conversations, driven through the real services."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from django.utils import timezone

from chat.models import Conversation, Service
from chat.services import do_start_conversation
from chat.services.conversations import (
    do_close_conversation,
    do_leave_conversation,
    do_transfer_conversation,
)
from chat.services.messages import do_send_message
from console.models import StaffProfile
from console.services.conversations import do_claim_conversation
from console.services.participation import (
    do_accept_invitation,
    do_answer_invitation,
    do_invite,
)
from directory.models import Resource
from directory.services import (
    do_create_partner_key,
    do_request_callback,
    do_share_resource,
)
from stats.periods import PARIS
from tests.factories import make_commune, make_service, make_staff


class Clock:
    """Sets what ``timezone.now()`` returns, in Paris wall-clock time."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = timezone.now()
        monkeypatch.setattr(timezone, "now", lambda: self.now)

    def at(self, text: str) -> datetime:
        """Move to ``YYYY-MM-DD HH:MM`` Paris time (fold=0 on ambiguity)."""
        self.now = datetime.fromisoformat(text).replace(tzinfo=PARIS)
        return self.now

    def at_utc(self, text: str) -> datetime:
        self.now = datetime.fromisoformat(text).replace(tzinfo=UTC)
        return self.now


@dataclass
class World:
    clock: Clock
    a: Service
    b: Service
    op_a: StaffProfile
    op_b: StaffProfile
    psychologist: StaffProfile
    supervisor_a: Any
    administrator: Any
    operator_user: Any
    ids: dict[str, Any] = field(default_factory=dict)

    def start(self, when: str, *, service: Service | None = None, role: str = "victim"):
        self.clock.at(when)
        conversation, _token = do_start_conversation(
            service=service or self.a,
            visitor_role=role,
            commune=self.commune,
            place_label="33000 Bordeaux",
        )
        return conversation

    def claim(self, when: str, conversation: Conversation, profile: StaffProfile):
        self.clock.at(when)
        return do_claim_conversation(profile, conversation.id)

    def visitor_says(self, when: str, conversation: Conversation) -> None:
        self.clock.at(when)
        do_send_message(
            conversation.id, sender="visitor", body="…", client_id=uuid.uuid4()
        )

    def staff_says(self, when: str, conversation: Conversation, profile) -> None:
        self.clock.at(when)
        do_send_message(
            conversation.id,
            sender="operator",
            body="Bonjour",
            author=profile.user,
            author_name=profile.pseudonym,
        )

    def close(self, when: str, conversation: Conversation, outcome: str, cats=()):
        self.clock.at(when)
        do_close_conversation(
            Conversation.objects.get(id=conversation.id),
            outcome=outcome,
            categories=list(cats),
        )


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


@pytest.fixture
def world(db: None, clock: Clock) -> World:
    """Build March 2026 (and one conversation a year earlier) for services A, B.

    The true figures are worked out by hand in test_figures.py.
    """
    a = make_service("service-a", name="Service A")
    b = make_service("service-b", name="Service B")
    op_a = make_staff(services=(a,), pseudonym="Alice").staff
    op_b = make_staff(services=(b,), pseudonym="Bruno").staff
    psychologist = make_staff(
        roles=(StaffProfile.Role.PSYCHOLOGIST,), services=(a,), pseudonym="Psy"
    ).staff
    supervisor_a = make_staff(roles=(StaffProfile.Role.SUPERVISOR,), services=(a,))
    administrator = make_staff(roles=(StaffProfile.Role.ADMINISTRATOR,), services=(a,))
    operator_user = op_a.user
    w = World(
        clock,
        a,
        b,
        op_a,
        op_b,
        psychologist,
        supervisor_a,
        administrator,
        operator_user,
    )
    w.commune = make_commune()

    # c1: Tuesday 10 March, 9:00; report; a psychologist joins; a card.
    c1 = w.start("2026-03-10 09:00")
    w.visitor_says("2026-03-10 09:01", c1)
    w.claim("2026-03-10 09:02", c1, op_a)
    w.staff_says("2026-03-10 09:03", c1, op_a)
    w.visitor_says("2026-03-10 09:04", c1)
    clock.at("2026-03-10 09:05")
    invitation = do_invite(
        Conversation.objects.get(id=c1.id),
        role="psychologist",
        service=a,
        summary="",
        invited_by=op_a,
    )
    do_answer_invitation(invitation, accept=True)
    clock.at("2026-03-10 09:06")
    do_accept_invitation(psychologist, invitation)
    clock.at("2026-03-10 09:07")
    resource = Resource.objects.create(
        kind=Resource.Kind.CIDFF, name="CIDFF Gironde", source="test"
    )
    do_share_resource(
        Conversation.objects.select_related("commune").get(id=c1.id),
        resource=resource,
        sender="operator",
        user=op_a.user,
        author_name=op_a.pseudonym,
    )
    clock.at("2026-03-10 09:08")
    partner = Resource.objects.create(
        kind=Resource.Kind.ASSOCIATION, name="Rappel 33", source="test"
    )
    do_create_partner_key(partner, passphrase=b"a passphrase long enough")
    do_request_callback(
        Conversation.objects.get(id=c1.id),
        partner=partner,
        phone="0600000000",
        times="",
    )
    w.close("2026-03-10 09:30", c1, "report", ["violences conjugales", "harcèlement"])

    # c2: Tuesday 10 March 23:50, spans midnight; witness; orientation.
    c2 = w.start("2026-03-10 23:50", role="witness")
    w.claim("2026-03-10 23:55", c2, op_a)
    w.staff_says("2026-03-11 00:05", c2, op_a)
    w.close("2026-03-11 00:20", c2, "orientation", ["violences conjugales"])

    # c3: Sunday 29 March 01:50, across the DST jump (02:00 → 03:00): a
    # 20-minute wait that the wall clock shows as 80 minutes.
    c3 = w.start("2026-03-29 01:50")
    w.claim("2026-03-29 03:10", c3, op_a)
    w.staff_says("2026-03-29 03:11", c3, op_a)
    w.close("2026-03-29 03:30", c3, "information")

    # c4: abandoned while waiting.
    c4 = w.start("2026-03-15 14:00")
    clock.at("2026-03-15 14:10")
    do_leave_conversation(Conversation.objects.get(id=c4.id))

    # c5: claimed, then the visitor leaves before any staff reply.
    c5 = w.start("2026-03-16 10:00")
    w.visitor_says("2026-03-16 10:01", c5)
    w.claim("2026-03-16 10:05", c5, op_a)
    clock.at("2026-03-16 10:06")
    do_leave_conversation(Conversation.objects.get(id=c5.id))

    # c6: professional; A → B → A (two transfers), closed "other" in A.
    c6 = w.start("2026-03-17 11:00", role="professional")
    w.claim("2026-03-17 11:01", c6, op_a)
    w.staff_says("2026-03-17 11:02", c6, op_a)
    clock.at("2026-03-17 11:03")
    do_transfer_conversation(
        Conversation.objects.get(id=c6.id), target=b, name=op_a.pseudonym
    )
    w.claim("2026-03-17 11:10", c6, op_b)
    clock.at("2026-03-17 11:12")
    do_transfer_conversation(
        Conversation.objects.get(id=c6.id), target=a, name=op_b.pseudonym
    )
    w.claim("2026-03-17 11:15", c6, op_a)
    w.close("2026-03-17 11:30", c6, "other")

    # c7: 1 March 00:30 Paris (28 February in UTC): March; abandoned.
    c7 = w.start("2026-03-01 00:30")
    clock.at("2026-03-01 00:40")
    do_leave_conversation(Conversation.objects.get(id=c7.id))

    # c8: 1 April 00:10 Paris (31 March in UTC): not March.
    c8 = w.start("2026-04-01 00:10")
    clock.at("2026-04-01 00:20")
    do_leave_conversation(Conversation.objects.get(id=c8.id))

    # c9: a year earlier, for the comparison: handled, report.
    c9 = w.start("2025-03-12 10:00")
    w.claim("2025-03-12 10:03", c9, op_a)
    w.staff_says("2025-03-12 10:04", c9, op_a)
    w.close("2025-03-12 10:20", c9, "report")

    w.ids = {
        name: conv.id
        for name, conv in locals().items()
        if name[:1] == "c" and name[1:].isdigit()
    }
    clock.at("2026-04-15 12:00")
    return w
