"""Services of the chat engine: numbering, claims, presence and hours."""

import threading
import uuid
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest

from django.db import close_old_connections
from django.utils import timezone

from chat.errors import ChatError
from chat.hours import is_service_open
from chat.models import Connection, Conversation, Message
from chat.services import do_register_connection, do_send_message, do_sweep_presence
from chat.services.queue import list_waiting_places, read_queue_place
from console.models import StaffProfile
from console.selectors import list_queue_items
from console.services import check_claim_conversation
from tests.factories import make_conversation, make_operator, make_service

pytestmark = pytest.mark.django_db(transaction=True)


def run_threads(count, target):
    errors = []

    def wrapped(index):
        try:
            target(index)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_concurrent_writers_get_gapless_unique_seqs():
    conversation, _ = make_conversation()

    def send(index):
        for number in range(15):
            do_send_message(
                conversation.id,
                sender="visitor",
                body=f"{index}-{number}",
                client_id=uuid.uuid4(),
            )

    assert run_threads(4, send) == []
    seqs = list(
        Message.objects.filter(conversation=conversation).values_list("seq", flat=True)
    )
    assert seqs == list(range(1, 61))
    conversation.refresh_from_db()
    assert conversation.last_seq == 60


def test_concurrent_resends_of_one_id_store_it_once():
    conversation, _ = make_conversation()
    client_id = uuid.uuid4()
    results = []

    def send(index):
        message, created = do_send_message(
            conversation.id, sender="visitor", body="once", client_id=client_id
        )
        results.append((message.seq, created))

    assert run_threads(6, send) == []
    assert Message.objects.filter(conversation=conversation).count() == 1
    assert {seq for seq, _ in results} == {1}
    assert sum(created for _, created in results) == 1


def test_claim_race_gives_each_conversation_to_exactly_one_operator():
    service = make_service()
    conversations = [make_conversation(service)[0] for _ in range(3)]
    operators = [make_operator(service) for _ in range(8)]
    won, lost = [], []

    def claim(index):
        profile = StaffProfile.objects.get(user=operators[index])
        try:
            won.append(check_claim_conversation(profile).id)
        except ChatError as error:
            lost.append(error.code)

    assert run_threads(8, claim) == []
    assert sorted(won) == sorted(c.id for c in conversations)
    assert lost == ["queue_empty"] * 5
    operators_of = Conversation.objects.values_list("operator_id", flat=True)
    assert len(set(operators_of)) == 3


def test_claim_order_is_urgent_first_then_oldest():
    service = make_service()
    oldest, _ = make_conversation(service)
    newer, _ = make_conversation(service)
    Conversation.objects.filter(id=newer.id).update(urgent=True)
    profile = StaffProfile.objects.get(user=make_operator(service))
    assert check_claim_conversation(profile).id == newer.id
    assert check_claim_conversation(profile).id == oldest.id


def test_every_reader_of_the_queue_tells_the_same_places_on_a_tied_key():
    """Two conversations may share a ``queue_key``: the id breaks the tie.

    The place a visitor is told at attach (``read_queue_place``), the
    places the queue feed tells (``list_waiting_places``), the console's
    queue and the next claim must all follow one order.
    """
    service = make_service()
    first, _ = make_conversation(service)
    second, _ = make_conversation(service)
    make_conversation(service)
    Conversation.objects.filter(id=second.id).update(queue_key=first.queue_key)
    waiting = Conversation.objects.filter(service=service)
    at_attach = {
        conversation.id: read_queue_place(conversation) for conversation in waiting
    }
    ((fed, _per_place),) = list_waiting_places([service.id]).values()
    assert at_attach == fed
    assert sorted(fed.values()) == [1, 2, 3]
    in_order = sorted(fed, key=fed.get)
    profile = StaffProfile.objects.get(user=make_operator(service))
    console = [item["conversation"] for item in list_queue_items(profile)]
    assert console == [str(conversation_id) for conversation_id in in_order]
    assert check_claim_conversation(profile).id == in_order[0]


def later(seconds):
    moved = timezone.now() + timedelta(seconds=seconds)
    return mock.patch("chat.services.presence.timezone.now", return_value=moved)


def test_operator_grace_then_requeue_at_the_head(settings):
    settings.OPERATOR_GRACE_SECONDS = 30
    settings.PRESENCE_STALE_SECONDS = 10
    service = make_service()
    conversation, _ = make_conversation(service)
    waiting, _ = make_conversation(service)
    operator = make_operator(service)
    profile = StaffProfile.objects.get(user=operator)
    assert check_claim_conversation(profile).id == conversation.id
    do_register_connection("chan-op", server_id="s1", user_id=operator.id)

    assert do_sweep_presence()["operator_grace_started"] == 0
    with later(11):
        counts = do_sweep_presence()
    assert counts["operator_grace_started"] == 1
    conversation.refresh_from_db()
    assert conversation.status == "active"
    assert conversation.operator_grace_until is not None
    # A second sweep, from any process, does not start it twice.
    with later(12):
        assert do_sweep_presence()["operator_grace_started"] == 0
    with later(45):
        assert do_sweep_presence()["requeued"] == 1
    conversation.refresh_from_db()
    assert (conversation.status, conversation.operator_id) == ("waiting", None)
    head = Conversation.objects.filter(status="waiting").order_by(
        "-urgent", "queue_key"
    )
    assert list(head.values_list("id", flat=True)) == [conversation.id, waiting.id]


def test_a_mass_requeue_announces_the_queue_once(settings, capture_events):
    """Four conversations requeued by one sweep: one queue event, no more."""
    settings.OPERATOR_GRACE_SECONDS = 30
    settings.PRESENCE_STALE_SECONDS = 10
    service = make_service()
    operator = make_operator(service)
    StaffProfile.objects.filter(user=operator).update(max_conversations=10)
    profile = StaffProfile.objects.get(user=operator)
    claimed = [make_conversation(service)[0] for _ in range(4)]
    for _ in claimed:
        check_claim_conversation(profile)
    for _ in range(3):
        make_conversation(service)
    do_register_connection("chan-op", server_id="s1", user_id=operator.id)
    with later(11):
        do_sweep_presence()
    with later(45), capture_events() as sent:
        assert do_sweep_presence()["requeued"] == 4
    kinds = [event["type"] for _group, event in sent]
    assert kinds.count("console.queue_changed") == 1
    assert kinds.count("chat.status") == 4


def test_operator_back_within_grace_keeps_the_conversation(settings):
    settings.OPERATOR_GRACE_SECONDS = 30
    settings.PRESENCE_STALE_SECONDS = 10
    service = make_service()
    conversation, _ = make_conversation(service)
    operator = make_operator(service)
    check_claim_conversation(StaffProfile.objects.get(user=operator))
    with later(1):
        assert do_sweep_presence()["operator_grace_started"] == 1
    do_register_connection("chan-op-2", server_id="s2", user_id=operator.id)
    assert do_sweep_presence()["operator_back"] == 1
    with later(45):
        Connection.objects.update(heartbeat_at=timezone.now() + timedelta(seconds=45))
        assert do_sweep_presence()["requeued"] == 0
    conversation.refresh_from_db()
    assert conversation.status == "active"
    assert conversation.operator_grace_until is None


def test_waiting_visitor_who_never_returns_is_abandoned(settings):
    settings.VISITOR_GRACE_SECONDS = 60
    service = make_service()
    gone, _ = make_conversation(service)
    present, _ = make_conversation(service)
    do_register_connection("chan-v", server_id="s1", conversation_id=present.id)
    assert do_sweep_presence()["visitor_grace_started"] == 1
    with later(61):
        Connection.objects.update(heartbeat_at=timezone.now() + timedelta(seconds=61))
        assert do_sweep_presence()["abandoned"] == 1
    gone.refresh_from_db()
    present.refresh_from_db()
    assert (gone.status, gone.outcome) == ("closed", "abandoned")
    assert present.status == "waiting"


def test_connections_of_a_dead_process_stop_counting(settings):
    settings.PRESENCE_STALE_SECONDS = 10
    service = make_service()
    conversation, _ = make_conversation(service)
    do_register_connection(
        "chan-dead", server_id="dead", conversation_id=conversation.id
    )
    with later(11):
        assert do_sweep_presence()["visitor_grace_started"] == 1
    with later(31):
        do_sweep_presence()
    assert not Connection.objects.filter(channel_name="chan-dead").exists()


# No thread and no second connection below: a rolled-back transaction is
# enough, and far cheaper than emptying every table after each test.
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        # Saturday 2026-03-28, winter time (UTC+1): 08:30 UTC is 09:30 Paris.
        (datetime(2026, 3, 28, 8, 30, tzinfo=UTC), True),
        (datetime(2026, 3, 28, 7, 30, tzinfo=UTC), False),
        # Monday 2026-03-30, summer time (UTC+2): 07:30 UTC is 09:30 Paris.
        (datetime(2026, 3, 30, 7, 30, tzinfo=UTC), True),
        (datetime(2026, 3, 30, 6, 30, tzinfo=UTC), False),
        (datetime(2026, 3, 30, 15, 59, tzinfo=UTC), True),
        (datetime(2026, 3, 30, 16, 0, tzinfo=UTC), False),
        # Sunday: closed all day.
        (datetime(2026, 3, 29, 10, 0, tzinfo=UTC), False),
    ],
)
def test_opening_hours_follow_paris_time_across_dst(utc, expected):
    days = ("mon", "tue", "wed", "thu", "fri", "sat")
    service = make_service(
        "office", opening_hours={day: [["09:00", "18:00"]] for day in days}
    )
    assert is_service_open(service, at=utc) is expected


@pytest.mark.django_db
def test_empty_schedule_is_always_open():
    assert is_service_open(
        make_service("always"), at=datetime(2026, 1, 1, 3, tzinfo=UTC)
    )


@pytest.mark.django_db
def test_a_resend_after_the_close_gets_the_original_seq():
    from chat.services import do_close_conversation

    conversation, _ = make_conversation()
    client_id = uuid.uuid4()
    do_send_message(
        conversation.id, sender="visitor", body="avant", client_id=client_id
    )
    Conversation.objects.filter(id=conversation.id).update(status="active")
    do_close_conversation(conversation, outcome="information", categories=[])
    message, created = do_send_message(
        conversation.id, sender="visitor", body="avant", client_id=client_id
    )
    assert (message.seq, created) == (1, False)
    with pytest.raises(ChatError) as refused:
        do_send_message(
            conversation.id, sender="visitor", body="après", client_id=uuid.uuid4()
        )
    assert refused.value.code == "bad_state"
    assert Message.objects.filter(conversation=conversation).count() == 1
