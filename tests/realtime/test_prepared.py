"""Reads built once per connection (realtime.prepared, issue 14)."""

import threading
import uuid
from datetime import timedelta

import pytest

from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.sql.compiler import SQLCompiler
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat.models import Connection, Conversation, Service
from realtime.prepared import Prepared
from tests.factories import make_commune, make_conversation, make_service

pytestmark = pytest.mark.django_db(transaction=True)

KEY = Conversation._meta.pk
SINCE = Connection._meta.get_field("heartbeat_at")


def with_service_and_flag(key, since):
    here = Connection.objects.filter(
        conversation_id=OuterRef("id"), heartbeat_at__gte=since
    )
    return (
        Conversation.objects.select_related("service", "commune")
        .annotate(visitor_here=Exists(here))
        .filter(id=key)
    )


@pytest.fixture
def conversations(db):
    make_commune()
    national = make_service("national")
    return [make_conversation(national)[0] for _ in range(3)]


@pytest.fixture
def compiles(monkeypatch):
    """Conversations' statements Django built (their subqueries aside)."""
    built = []
    original = SQLCompiler.as_sql

    def counting(self, *args, **kwargs):
        if self.query.model is Conversation:
            built.append(self.query.model)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "as_sql", counting)
    return built


def test_a_read_gives_what_the_queryset_gives(conversations):
    read = Prepared(with_service_and_flag, key=KEY, since=SINCE)
    since = timezone.now() - timedelta(seconds=30)
    for conversation in conversations:
        expected = with_service_and_flag(conversation.id, since).get()
        got = read.first(key=conversation.id, since=since)
        assert got == expected
        assert got.service.slug == expected.service.slug == "national"
        assert got.commune.name == "Bordeaux"
        assert got.visitor_here is expected.visitor_here is False
        assert got.queue_key == expected.queue_key
        assert got._state.db == "default" and not got._state.adding
    assert read.first(key=uuid.uuid4(), since=since) is None


def test_values_lists_flat_or_not(conversations):
    service = conversations[0].service_id
    rows = Prepared(
        lambda service: (
            Conversation.objects.filter(service=service)
            .order_by("queue_key")
            .values_list("id", "status")
        ),
        service=Service._meta.pk,
    )
    assert rows.all(service=service) == [(c.id, "waiting") for c in conversations]
    ids = Prepared(
        lambda service: (
            Conversation.objects.filter(service=service)
            .order_by("queue_key")
            .values_list("id", flat=True)
        ),
        service=Service._meta.pk,
    )
    assert ids.all(service=service) == [c.id for c in conversations]
    assert ids.all(service=service + 1000) == []


def test_the_sql_is_built_once_per_connection_then_only_run(conversations, compiles):
    read = Prepared(with_service_and_flag, key=KEY, since=SINCE)
    since = timezone.now()
    read.first(key=conversations[0].id, since=since)
    # Built twice with different stand-ins, to check its shape.
    assert compiles == [Conversation, Conversation]
    with CaptureQueriesContext(connection) as ran:
        for conversation in conversations:
            assert read.first(key=conversation.id, since=since).id == conversation.id
    assert compiles == [Conversation, Conversation]
    assert len(ran) == 3

    # Another thread has its own connection, and builds its own plan.
    def elsewhere():
        try:
            read.first(key=conversations[1].id, since=since)
        finally:
            connection.close()

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert compiles == [Conversation] * 4


def test_a_value_used_twice(conversations):
    first = conversations[0]
    either = Prepared(
        lambda key: Conversation.objects.filter(Q(id=key) | Q(pk=key)),
        key=KEY,
    )
    assert [c.id for c in either.all(key=first.id)] == [first.id]


@pytest.mark.parametrize(
    "build",
    [
        # The value also goes in as text.
        lambda key: Conversation.objects.filter(id__in=[key]).filter(
            token_hash=str(key)
        ),
        # The value is not a parameter at all.
        lambda key: Conversation.objects.filter(id=uuid.uuid4()),
        # Not models nor tuples.
        lambda key: Conversation.objects.filter(id=key).values("id"),
    ],
    ids=["a value used twice", "a value left out", "dicts"],
)
def test_a_read_whose_shape_moves_is_refused(conversations, build):
    with pytest.raises(ImproperlyConfigured):
        Prepared(build, key=KEY).first(key=conversations[0].id)


def test_an_aggregate_in_a_subquery(conversations):
    service = conversations[0].service_id
    counted = Prepared(
        lambda service: (
            Service.objects.filter(pk=service)
            .annotate(n=Count("conversation"))
            .values_list("n", flat=True)
        ),
        service=Service._meta.pk,
    )
    assert counted.first(service=service) == 3
