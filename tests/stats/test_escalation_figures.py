"""The escalation figures of a hand-built March, driven through the
escalation app's own services, checked per service, for the platform, and
after purge."""

from datetime import date

import pytest

from django.utils import timezone
from django.utils.translation import override

from chat.models import ConsentText, Conversation
from chat.services.conversations import do_close_conversation, do_transfer_conversation
from console.models import StaffProfile
from console.services.conversations import check_flag_conversation
from escalation import disclosure
from escalation.consent import check_answer_consent, check_request_consent
from escalation.models import Delivery, DisclosureRequest, Unit
from escalation.reports import check_create_report, deliver_due
from retention.purge import do_purge_expired
from stats.periods import make_period
from stats.selectors import compute_figures
from tests.factories import make_staff

pytestmark = pytest.mark.django_db

MARCH = make_period("month", date(2026, 3, 10))
JUSTIFICATION = "Menaces de mort explicites, la personne a cessé de répondre."
NAMES = (
    "asked",
    "accepted",
    "declined",
    "reports",
    "delivered",
    "requested",
    "approved",
    "refused",
    "executed",
)


def named(figures) -> dict[str, int]:
    """The escalation figures under short names, in the page's order."""
    assert figures.escalation is not None
    assert len(figures.escalation) == len(NAMES)
    return dict(zip(NAMES, figures.escalation.values(), strict=True))


class Escalations:
    """Consents, reports and disclosures on fresh conversations of ``world``."""

    def __init__(self, world, tmp_path) -> None:
        self.w = world
        self.opened: list[Conversation] = []
        # Every conversation stays open until the end: room for all.
        StaffProfile.objects.filter(pk__in=[world.op_a.pk, world.op_b.pk]).update(
            max_conversations=20
        )
        for service in (world.a, world.b):
            ConsentText.objects.create(
                service=service, version="2026-1", lang="fr", text="J'accepte."
            )
        drop = tmp_path / "drop"
        drop.mkdir()
        # Bordeaux's unit takes files into a folder that exists; the other,
        # for the whole department, into one that does not: it fails.
        self.unit_ok = Unit.objects.create(
            name="Commissariat de Bordeaux",
            force="PN",
            communes=["33063"],
            method="file",
            address=str(drop),
        )
        self.unit_down = Unit.objects.create(
            name="Brigade de Mérignac",
            force="GN",
            departments=["33"],
            method="file",
            address=str(tmp_path / "missing"),
        )
        self.supervisor = {
            world.a: world.supervisor_a.staff,
            world.b: make_staff(
                roles=(StaffProfile.Role.SUPERVISOR,), services=(world.b,)
            ).staff,
        }
        self.custodian = make_staff(
            roles=(StaffProfile.Role.CUSTODIAN,), services=(world.a, world.b)
        )

    def operator_of(self, service):
        return self.w.op_a if service == self.w.a else self.w.op_b

    def conversation(self, when: str, service) -> Conversation:
        conversation = self.w.start(when, service=service)
        self.w.claim(when, conversation, self.operator_of(service))
        self.opened.append(conversation)
        return conversation

    def at(self, when: str) -> None:
        self.w.clock.at(when)

    def consent(self, conversation, asked: str, answered: str | None, accept=True):
        profile = self.operator_of(conversation.service)
        self.at(asked)
        consent = check_request_consent(profile, conversation.id)
        if answered is not None:
            self.at(answered)
            check_answer_consent(
                Conversation.objects.get(id=conversation.id),
                request_id=str(consent.id),
                accept=accept,
                contact={"phone": "06 12 34 56 78"} if accept else None,
            )
        return consent

    def report(self, conversation, when: str, unit: Unit) -> None:
        self.at(when)
        check_create_report(
            self.operator_of(conversation.service),
            conversation.id,
            unit_id=unit.id,
            category="domestic",
            urgency="high",
            summary="Violences répétées du conjoint.",
        )

    def deliver(self, when: str) -> dict[str, int]:
        self.at(when)
        return deliver_due()

    def request(self, conversation, when: str) -> DisclosureRequest:
        profile = self.operator_of(conversation.service)
        self.at(when)
        check_flag_conversation(profile, conversation.id, urgent=True, minor=None)
        return disclosure.check_request_disclosure(
            profile, conversation.id, ground="urgent", justification=JUSTIFICATION
        )

    def endorse(self, request, when: str, service) -> None:
        self.at(when)
        disclosure.check_endorse(self.supervisor[service], request.id)

    def decide(self, request, when: str, service, decision: str) -> None:
        self.at(when)
        disclosure.check_record_decision(
            self.supervisor[service],
            request.id,
            decision=decision,
            parquet_reference="P-26-001",
            magistrate="Mme Martin",
            decision_date=timezone.localdate(),
        )

    def execute(self, request, when: str) -> None:
        """The custodian's step, without the month's sealing key.

        ``check_execute`` needs a real key file and sealed records
        (tests/escalation/test_disclosure.py walks it); the figures only
        need the transition it ends with, taken the same way.
        """
        self.at(when)
        disclosure.do_transition(
            DisclosureRequest.objects.get(id=request.id),
            "execute",
            user=self.custodian,
            fields={"executed_by": self.custodian, "executed_at": timezone.now()},
        )

    def close_all(self, when: str) -> None:
        self.at(when)
        for conversation in self.opened:
            do_close_conversation(
                Conversation.objects.get(id=conversation.id),
                outcome="report",
                categories=[],
            )


@pytest.fixture
def escalations(world, tmp_path, settings):
    """Build the escalations of late February to early April (Paris time).

    e4 starts in A and is transferred to B before its consent: it counts
    in both services and once for the platform.
    """
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "audit-checkpoints"
    a, b = world.a, world.b
    x = Escalations(world, tmp_path)

    # e1 (A): asked, accepted, reported to Bordeaux, delivered, all 5 March.
    e1 = x.conversation("2026-03-05 10:00", a)
    x.consent(e1, "2026-03-05 10:05", "2026-03-05 10:06")
    x.report(e1, "2026-03-05 10:10", x.unit_ok)
    assert x.deliver("2026-03-05 10:11") == {"sent": 1, "failed": 0}
    # e2 (A): declined. e3 (A): asked, never answered.
    e2 = x.conversation("2026-03-06 10:00", a)
    x.consent(e2, "2026-03-06 10:05", "2026-03-06 10:07", accept=False)
    e3 = x.conversation("2026-03-07 10:00", a)
    x.consent(e3, "2026-03-07 10:05", None)
    # e4 (A → B): accepted in B; its unit's folder is missing: it fails.
    e4 = x.conversation("2026-03-08 10:00", a)
    x.at("2026-03-08 10:01")
    do_transfer_conversation(
        Conversation.objects.get(id=e4.id), target=b, name=world.op_a.pseudonym
    )
    world.claim("2026-03-08 10:02", e4, world.op_b)
    e4.service = b
    x.consent(e4, "2026-03-08 10:05", "2026-03-08 10:06")
    x.report(e4, "2026-03-08 10:10", x.unit_down)
    assert x.deliver("2026-03-08 10:11") == {"sent": 0, "failed": 1}
    # e5 (A): asked in February, accepted on 1 March 00:10 Paris (still
    # February in UTC), reported on 31 March 23:50, delivered in April.
    e5 = x.conversation("2026-02-28 23:40", a)
    x.consent(e5, "2026-02-28 23:50", "2026-03-01 00:10")
    x.report(e5, "2026-03-31 23:50", x.unit_ok)
    # e6 (B): everything in April; e4's second try fails again.
    e6 = x.conversation("2026-04-02 10:00", b)
    x.consent(e6, "2026-04-02 10:05", "2026-04-02 10:06")
    x.report(e6, "2026-04-02 10:10", x.unit_ok)
    assert x.deliver("2026-04-01 00:05") == {"sent": 1, "failed": 1}  # e5
    assert x.deliver("2026-04-02 10:11") == {"sent": 1, "failed": 1}  # e6

    # d1 (A): requested, endorsed, approved, executed, all in March.
    d1 = x.request(x.conversation("2026-03-10 10:00", a), "2026-03-10 10:05")
    x.endorse(d1, "2026-03-10 10:30", a)
    x.decide(d1, "2026-03-11 09:00", a, "approved")
    x.execute(d1, "2026-03-11 10:00")
    # d2 (A): the supervisor declines it before any prosecutor sees it.
    d2 = x.request(x.conversation("2026-03-13 10:00", a), "2026-03-13 10:05")
    x.at("2026-03-13 11:00")
    disclosure.check_decline(x.supervisor[a], d2.id)
    # d3 (B): endorsed, refused by the prosecutor.
    d3 = x.request(x.conversation("2026-03-14 10:00", b), "2026-03-14 10:05")
    x.endorse(d3, "2026-03-14 10:30", b)
    x.decide(d3, "2026-03-15 09:00", b, "refused")
    # d4 (B): withdrawn by its requester.
    d4 = x.request(x.conversation("2026-03-20 10:00", b), "2026-03-20 10:05")
    x.at("2026-03-20 10:30")
    disclosure.check_withdraw(world.op_b, d4.id)
    # d5 (A): requested in February, approved 2 March, lapsed unexecuted.
    d5 = x.request(x.conversation("2026-02-27 10:00", a), "2026-02-27 10:05")
    x.endorse(d5, "2026-02-27 10:30", a)
    x.decide(d5, "2026-03-02 09:00", a, "approved")
    x.at("2026-03-05 09:00")
    assert disclosure.do_expire_lapsed() == 1
    # d6 (A): requested in March, approved and executed on 1 April.
    d6 = x.request(x.conversation("2026-03-31 22:00", a), "2026-03-31 22:05")
    x.endorse(d6, "2026-03-31 22:30", a)
    x.decide(d6, "2026-04-01 00:30", a, "approved")
    x.execute(d6, "2026-04-01 01:00")
    # d7 (B): requested in March, still waiting for the prosecutor.
    d7 = x.request(x.conversation("2026-03-31 23:00", b), "2026-03-31 23:05")
    x.endorse(d7, "2026-03-31 23:30", b)

    states = dict(DisclosureRequest.objects.values_list("reference", "state"))
    assert sorted(states.values()) == sorted(
        [
            "executed",
            "refused",
            "refused",
            "withdrawn",
            "expired",
            "executed",
            "endorsed",
        ]
    )
    assert sorted(Delivery.objects.values_list("state", flat=True)) == [
        "failed",
        "sent",
        "sent",
        "sent",
    ]
    x.close_all("2026-04-15 12:00")
    return x


PLATFORM = {
    "asked": 4,  # e1, e2, e3, e4 (e5 asked in February, e6 in April)
    "accepted": 3,  # e1, e4, e5
    "declined": 1,  # e2
    "reports": 3,  # e1, e4, e5
    "delivered": 1,  # e1 (e4 failed, e5 arrived in April)
    "requested": 6,  # d1, d2, d3, d4, d6, d7
    "approved": 2,  # d1, d5
    "refused": 2,  # d2 by the supervisor, d3 by the prosecutor
    "executed": 1,  # d1
}
SERVICE_A = {
    "asked": 4,  # e1, e2, e3, e4
    "accepted": 3,  # e1, e4, e5
    "declined": 1,
    "reports": 3,
    "delivered": 1,
    "requested": 3,  # d1, d2, d6
    "approved": 2,  # d1, d5
    "refused": 1,  # d2
    "executed": 1,  # d1
}
SERVICE_B = {
    "asked": 1,  # e4
    "accepted": 1,
    "declined": 0,
    "reports": 1,
    "delivered": 0,
    "requested": 3,  # d3, d4, d7
    "approved": 0,
    "refused": 1,  # d3
    "executed": 0,
}


def test_escalation_figures_are_true(world, escalations):
    with override("fr"):
        assert named(compute_figures(MARCH)) == PLATFORM
        assert named(compute_figures(MARCH, [world.a.id])) == SERVICE_A
        assert named(compute_figures(MARCH, [world.b.id])) == SERVICE_B
        both = compute_figures(MARCH, [world.a.id, world.b.id])
        assert named(both) == PLATFORM  # e4 counts once
        april = named(compute_figures(make_period("month", date(2026, 4, 1))))
    assert april["asked"] == 1  # e6
    assert april["delivered"] == 2  # e5, e6
    assert april["approved"] == 1 and april["executed"] == 1  # d6
    assert april["requested"] == 0


def test_escalation_figures_are_the_same_after_purge(world, escalations, clock):
    with override("fr"):
        before = [compute_figures(MARCH, ids) for ids in (None, [world.b.id])]
        clock.at("2031-01-01 12:00")
        record = do_purge_expired(now=clock.now)
        assert record.counts["conversations"] >= len(escalations.opened)
        assert not Conversation.objects.filter(
            id__in=[c.id for c in escalations.opened]
        ).exclude(token_hash__startswith="purged:")
        after = [compute_figures(MARCH, ids) for ids in (None, [world.b.id])]
    assert named(after[0]) == PLATFORM
    assert named(after[1]) == SERVICE_B
    assert after == before
