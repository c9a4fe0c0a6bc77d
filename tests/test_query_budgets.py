"""How many SQL statements the hot paths run (issue 13).

Each budget is exact, so that a change either way is seen and the number
is moved on purpose, with its reason beside it. Transaction control
(BEGIN, SAVEPOINT, RELEASE, COMMIT) is not counted: it depends on the
caller's transaction, not on the path. Counted on the test database
(SQLite); a statement more here is one more round trip on PostgreSQL.
"""

import asyncio
import threading
import uuid

import pytest

from channels.db import database_sync_to_async
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.test.utils import CaptureQueriesContext

from anonymity.crypto import cached_data_key, forget_data_keys
from chat.errors import ChatError
from chat.selectors import list_message_frames_after
from chat.services import check_start_for_visitor
from chat.services.messages import do_send_message
from console import queue_feed
from console.auth import account_signature, get_console_grant, lock_console_access
from console.models import StaffProfile
from console.selectors import (
    get_assigned_conversation,
    get_hello,
    list_queue_snapshots,
)
from console.services import (
    check_claim_conversation,
    check_send_staff_message,
    do_create_login_session,
)
from realtime import runtime
from tests.factories import (
    make_commune,
    make_conversation,
    make_operator,
    make_service,
    make_staff,
)
from tests.helpers import connect_staff, drain, receive_until, start_visitor
from visitor.services import do_attach_visitor

pytestmark = pytest.mark.django_db

# A visitor's message: one UPDATE takes the next seq on the conversation
# row, one INSERT stores the message.
VISITOR_MESSAGE = 2
# A receiver that saw a gap reads the messages after its last seq: one
# SELECT, whatever the number of messages.
DELIVERY_READ = 1
# The console's re-check of the account inside every staff write
# (console.auth.lock_console_access, issue 14). While the access stamp has
# not moved: one indexed read of the stamp.
STAFF_ACCESS_HELD = 1
# The first write of a socket, or after the stamp moved: the session and
# the stamp, then the session again, the user, the profile, its services
# and the second factor (get_console_access), and the session's expiry;
# account_signature reads the prefetched services.
STAFF_ACCESS_FULL = 8
# A staff message from the operator in charge once access is checked: the
# UPDATE that takes the seq only while they are in charge (the access rule
# and the write in one statement), then the INSERT.
STAFF_MESSAGE = 2
# A claim of a given conversation: the conversation's id (access rule),
# the capacity lock, the two load counts in one statement, the conditional
# UPDATE (which also stamps a first claim), the read back and the claim's
# record. Waiting visitors hear their new places from their process's
# queue feed, not from here. Issue 14: 11 before (the user row, the counts
# apart, the first-claim stamp apart, the wait per place and the waiting
# list).
CLAIM = 6
# What the console reads once it has claimed (``assigned``): the
# conversation with its operator's pseudonym and, as subqueries, whether
# the visitor is here and whether it has participants, notes, whispers,
# an open invitation, a consent request or a follow-up. History is not
# read while last_seq is 0. Issue 14: 12 before, then 2 while the view
# also read the psychologists online (the invite dialog asks for them).
ASSIGNED_VIEW = 1
# A visitor's start: the commune of the postal code, the service, the
# service lock and its waiting count, the commune's competence, the three
# INSERTs (conversation, passage, data key). Issue 14: 14 before
# (full_clean read the service, the commune and both unique keys again;
# the wait per place and the waiting list sent the queue's places, which
# the process's queue feed now sends).
START = 8
# Then its socket attaches: the presence upsert, the conversation's queue
# fields with its place (one statement), the wait per place. Issue 14: 6
# before (read then write the presence row, the status twice, the count).
ATTACH = 3
# A console's hello, once its account is checked (the services come with
# the profile): the waiting conversations and their receipts, the
# wrap-ups, the conversations it is in, the invitations offered, the
# canned answers, the services. Issue 14: 9 before (the services' ids and
# the user row again).
HELLO = 7
# The queue of every service of a process, for all its operator sockets:
# the waiting conversations, and their receipts (prefetched).
QUEUE_SNAPSHOT = 2
# A start over a socket while a console of the service is open in the same
# process, so that the process's queue feed follows the service: the start,
# the attach, and the consoles' queue read once. The visitor's place is
# the one the attach read: the feed does not read the waiting order again
# for it. Issue 14's review: 2 more before (the feed's waiting order and
# the wait per place, read right after the attach had read the place).
START_WITH_FEED = START + ATTACH + QUEUE_SNAPSHOT

CONTROL = ("BEGIN", "SAVEPOINT", "RELEASE", "COMMIT", "ROLLBACK")


class Statements:
    """The SQL statements run inside the block, transaction control aside."""

    def __enter__(self) -> "Statements":
        self._capture = CaptureQueriesContext(connection)
        self._capture.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        self._capture.__exit__(*exc_info)
        self.sql = [
            query["sql"]
            for query in self._capture.captured_queries
            if not query["sql"].upper().startswith(CONTROL)
        ]

    def __len__(self) -> int:
        return len(self.sql)

    def __repr__(self) -> str:
        return "\n".join(self.sql)


class AllStatements(Statements):
    """Like ``Statements``, in every thread: sockets read in thread pools."""

    def __enter__(self) -> "AllStatements":
        self.sql = []
        self._lock = threading.Lock()
        self._original = CursorWrapper._execute_with_wrappers
        statements = self

        def counting(cursor, sql, params, many, executor):
            if not sql.upper().startswith(CONTROL):
                with statements._lock:
                    statements.sql.append(sql)
            return statements._original(cursor, sql, params, many, executor)

        CursorWrapper._execute_with_wrappers = counting
        return self

    def __exit__(self, *exc_info) -> None:
        CursorWrapper._execute_with_wrappers = self._original


@pytest.fixture
def national(db):
    make_commune()
    return make_service("national")


@pytest.fixture
def claimed(national):
    """A conversation, its operator's profile and console session key."""
    conversation, _token = make_conversation(national)
    user = make_staff(services=(national,))
    profile = StaffProfile.objects.get(user=user)
    check_claim_conversation(profile, str(conversation.id))
    return conversation, profile, do_create_login_session(user)


def test_a_visitor_message_and_its_delivery_read(national):
    conversation, _token = make_conversation(national)
    with Statements() as stored:
        message, created = do_send_message(
            conversation.id, sender="visitor", body="bonjour", client_id=uuid.uuid4()
        )
    assert created and message.seq == 1
    assert len(stored) == VISITOR_MESSAGE, stored
    for index in range(5):
        do_send_message(
            conversation.id, sender="visitor", body=f"m{index}", client_id=uuid.uuid4()
        )
    with Statements() as read:
        frames = list_message_frames_after(conversation.id, 1, for_staff=True)
    assert [frame["seq"] for frame in frames] == [2, 3, 4, 5, 6]
    assert len(read) == DELIVERY_READ, read


def test_a_staff_message_as_the_console_writes_it(claimed):
    conversation, profile, session_key = claimed
    # console.consumers.StaffConsoleConsumer.write, step by step: a first
    # write checks everything, the next ones hold the grant.
    with transaction.atomic():
        with Statements() as full:
            checked, grant = lock_console_access(session_key)
            account_signature(checked)
    assert checked.pk == profile.pk
    assert len(full) == STAFF_ACCESS_FULL, full
    with transaction.atomic():
        with Statements() as held:
            again = lock_console_access(session_key, (checked, grant))
        with Statements() as write:
            message, created = check_send_staff_message(
                checked,
                str(conversation.id),
                text="Bonjour",
                client_id=str(uuid.uuid4()),
            )
    assert again == (checked, grant)
    assert created and message.seq == 1
    assert len(held) == STAFF_ACCESS_HELD, held
    assert len(write) == STAFF_MESSAGE, write


def test_a_console_hello_gives_its_first_write_the_held_check(claimed):
    """The hello's check of the account hands the socket its grant, so the
    console's first write reads the stamp only."""
    _conversation, profile, session_key = claimed
    code, checked, grant = get_console_grant(session_key)
    assert (code, checked.pk) == (0, profile.pk)
    with transaction.atomic():
        with Statements() as first_write:
            again = lock_console_access(session_key, (checked, grant))
    assert again == (checked, grant)
    assert len(first_write) == STAFF_ACCESS_HELD, first_write


def test_a_console_hello(national):
    """A console opening with one conversation waiting, in none yet."""
    waiting, _token = make_conversation(national)
    session_key = do_create_login_session(make_staff(services=(national,)))
    _code, checked, _grant = get_console_grant(session_key)
    with Statements() as read:
        hello = get_hello(checked)
    assert [item["conversation"] for item in hello["queue"]] == [str(waiting.id)]
    assert [service["slug"] for service in hello["services"]] == ["national"]
    assert len(read) == HELLO, read


def test_the_console_claims_without_a_savepoint(national):
    """Inside the console's write, a refusal ends the transaction anyway:
    no savepoint around the claim. Alone, a refused claim keeps the
    caller's transaction usable."""
    conversation, _token = make_conversation(national)
    profile = StaffProfile.objects.get(user=make_staff(services=(national,)))
    with transaction.atomic():
        with CaptureQueriesContext(connection) as claim:
            check_claim_conversation(profile, str(conversation.id), savepoint=False)
    assert not [
        query for query in claim.captured_queries if "SAVEPOINT" in query["sql"]
    ]
    with transaction.atomic():
        with pytest.raises(ChatError, match="déjà prise en charge"):
            check_claim_conversation(profile, str(conversation.id))
        assert StaffProfile.objects.filter(pk=profile.pk).exists()


def test_a_claim(national):
    conversation, _token = make_conversation(national)
    profile = StaffProfile.objects.get(user=make_staff(services=(national,)))
    with Statements() as claim:
        claimed = check_claim_conversation(profile, str(conversation.id))
    assert claimed.operator_id == profile.user_id
    assert len(claim) == CLAIM, claim


def test_a_start_and_its_socket_attaching(national):
    make_conversation(national)
    with Statements() as start:
        conversation, _token, details = check_start_for_visitor(
            place="33000", role="victim", service_slug="national"
        )
    assert conversation.position_at_start == 2
    assert details["commune"]["postal_code"] == "33000"
    assert len(start) == START, start
    with Statements() as attach:
        view = do_attach_visitor(
            "visitor-socket", conversation, server_id="s1", seal=None, resumed=False
        )
    assert view.queue[0] == 2
    assert len(attach) == ATTACH, attach


def test_the_view_read_after_a_claim(claimed):
    conversation, profile, _session_key = claimed
    with Statements() as read:
        view = get_assigned_conversation(profile, conversation.id)
    assert view["as"] == "operator"
    assert view["operator"] == profile.pseudonym
    assert view["history"] == view["notes"] == view["participants"] == []
    assert len(read) == ASSIGNED_VIEW, read


def test_the_view_read_in_another_process_loads_the_data_key(claimed):
    """A process that did not open the conversation reads its data key
    with the view, once: its event loop can then store the staff's first
    message itself, without a thread."""
    conversation, profile, _session_key = claimed
    forget_data_keys()
    with Statements() as read:
        get_assigned_conversation(profile, conversation.id)
    assert cached_data_key(conversation.id) is not None
    assert len(read) == ASSIGNED_VIEW + 1, read
    with Statements() as again:
        get_assigned_conversation(profile, conversation.id)
    assert len(again) == ASSIGNED_VIEW, again


def test_a_queue_snapshot_is_one_read_for_every_service(national):
    other = make_service("enfance", is_default=False)
    for service in (national, national, other):
        make_conversation(service)
    with Statements() as read:
        snapshots = list_queue_snapshots([national.id, other.id])
    assert [len(snapshots[national.id]), len(snapshots[other.id])] == [2, 1]
    assert len(read) == QUEUE_SNAPSHOT, read


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("runtime_stopped")
async def test_a_start_over_a_socket_with_the_queue_feed_following(
    national, monkeypatch
):
    # The process's background work (heartbeats, sweeps) would count too.
    monkeypatch.setattr(runtime, "_run_forever", asyncio.Event().wait)
    user = await database_sync_to_async(make_operator)(national)
    console, _hello = await connect_staff(user)
    await drain(console, wait=queue_feed.DEBOUNCE_SECONDS * 4)
    with AllStatements() as start:
        visitor, started = await start_visitor()
        assert started["type"] == "started"
        assert started["queue"]["position"] == 1
        await receive_until(console, "queue")
        # Whatever the feed would still read for the visitor, it reads now.
        await asyncio.sleep(queue_feed.DEBOUNCE_SECONDS * 6)
    assert len(start) == START_WITH_FEED, start
    # Its place was in ``started``: no second queue frame.
    assert "queue" not in [frame["type"] for frame in await drain(visitor)]
    await visitor.disconnect()
    await console.disconnect()
