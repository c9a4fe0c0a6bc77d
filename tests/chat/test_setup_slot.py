"""Opening work takes turns per process; messages never wait for it (issue 14).

A hundred starts at once used to fill every database thread, and the
event loop that delivers everybody's messages waited behind them for
seconds. Starts, resumes, claims and consoles' hellos now hold one of
the process's ``SETUP_CONCURRENCY`` slots (``realtime.frames.setup_slot``).
"""

import asyncio
import uuid

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from chat.models import Conversation
from realtime import frames
from realtime.frames import setup_slot
from tests.factories import make_operator, make_session_cookie
from tests.helpers import (
    claim,
    connect_staff,
    open_conversation,
    receive_until,
    staff_communicator,
    visitor_communicator,
    visitor_from_address,
)
from tests.integration.client import eventually
from tests.marks import SOCKET_TESTS

pytestmark = SOCKET_TESTS

START = {"type": "start", "place": "33000", "role": "victim"}


async def claimed(service):
    """A visitor's conversation claimed by an operator on another socket."""
    visitor, started = await open_conversation()
    user = await database_sync_to_async(make_operator)(service)
    operator, _hello = await connect_staff(user)
    conversation = started["conversation"]
    await claim(operator, conversation, timeout=10)
    return visitor, operator, conversation


async def most_at_once(openings: int = 8) -> int:
    """How many of ``openings`` held a slot at the same time, at most."""
    inside, most = 0, 0

    async def opening() -> None:
        nonlocal inside, most
        async with setup_slot():
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(opening() for _ in range(openings)))
    return most


async def test_no_more_than_the_setting_hold_a_slot_at_once(settings):
    settings.SETUP_CONCURRENCY = 2
    assert await most_at_once() == 2


async def test_two_open_at_once_only_while_no_conversation_talks(settings):
    """Nobody's messages to protect: a second opening may run beside one."""
    settings.SETUP_CONCURRENCY, settings.SETUP_CONCURRENCY_QUIET = 1, 2
    frames._last_talk = float("-inf")
    assert await most_at_once() == 2
    # A conversation talks: one at a time again, in the order they asked.
    frames.note_talk()
    assert await most_at_once() == 1


async def test_a_message_makes_the_openings_take_turns_again(national, settings):
    settings.SETUP_CONCURRENCY, settings.SETUP_CONCURRENCY_QUIET = 1, 2
    frames._last_talk = float("-inf")
    visitor, operator, _conversation = await claimed(national)
    assert frames.is_quiet()
    said = {"type": "message", "id": str(uuid.uuid4()), "text": "Allô ?"}
    await visitor.send_json_to(said)
    await receive_until(operator, "message", timeout=5)
    assert not frames.is_quiet()
    for communicator in (visitor, operator):
        await communicator.disconnect()


async def test_an_opening_cancelled_in_line_or_once_granted_frees_its_turn(settings):
    settings.SETUP_CONCURRENCY = settings.SETUP_CONCURRENCY_QUIET = 1
    slot = setup_slot()
    await slot.acquire()
    waiting = [asyncio.ensure_future(slot.acquire()) for _ in range(3)]
    await asyncio.sleep(0)
    waiting[0].cancel()  # in line
    slot.release()  # grants the second
    waiting[1].cancel()  # granted, cancelled before it ran: gives it back
    await asyncio.gather(*waiting[:2], return_exceptions=True)
    await asyncio.wait_for(waiting[2], 1)
    assert slot.holders == 1 and not slot.waiters
    slot.release()


async def test_a_start_waits_for_a_slot_while_messages_go_on(national, settings):
    settings.SETUP_CONCURRENCY = settings.SETUP_CONCURRENCY_QUIET = 1
    visitor, operator, _conversation = await claimed(national)
    newcomer = visitor_communicator()
    assert (await newcomer.connect())[0]

    slot = setup_slot()
    await slot.acquire()  # another opening holds the only slot
    try:
        await newcomer.send_json_to(START)
        said = str(uuid.uuid4())
        await visitor.send_json_to({"type": "message", "id": said, "text": "Allô ?"})
        ack = await receive_until(visitor, "ack", timeout=5)
        assert ack["id"] == said
        got = await receive_until(operator, "message", timeout=5)
        assert got["text"] == "Allô ?"
        assert await newcomer.receive_nothing(timeout=0.3)
        count = await database_sync_to_async(Conversation.objects.count)()
        assert count == 1
    finally:
        slot.release()
    assert (await receive_until(newcomer, "started", timeout=10))["type"] == "started"
    for communicator in (visitor, operator, newcomer):
        await communicator.disconnect()


async def test_a_release_waits_for_a_slot_too(national, settings):
    """A shift change releases dozens at once: back to the queue takes turns."""
    settings.SETUP_CONCURRENCY = settings.SETUP_CONCURRENCY_QUIET = 1
    visitor, operator, conversation = await claimed(national)

    slot = setup_slot()
    await slot.acquire()
    try:
        await operator.send_json_to({"type": "release", "conversation": conversation})
        said = str(uuid.uuid4())
        await visitor.send_json_to(
            {"type": "message", "id": said, "text": "Vous êtes là ?"}
        )
        assert (await receive_until(operator, "message", timeout=5))["text"] == (
            "Vous êtes là ?"
        )
        status = await database_sync_to_async(
            lambda: Conversation.objects.get(id=conversation).status
        )()
        assert status == Conversation.Status.ACTIVE
    finally:
        slot.release()
    released = await receive_until(operator, "released", timeout=10)
    assert released["conversation"] == conversation
    for communicator in (visitor, operator):
        await communicator.disconnect()


async def test_a_claim_reads_the_view_it_shows_once(national, monkeypatch):
    """The claim sends ``assigned`` itself; its own ``console.assigned``
    event, which comes back to the same socket, reads nothing more (it
    read the whole view again and threw it away: a quarter of a claim's
    CPU in the bench)."""
    from console import consumers

    reads, events_seen = [], []
    read = consumers.get_assigned_conversation
    handle_event = consumers.StaffConsoleConsumer.console_assigned

    def counted_read(profile, conversation_id):
        reads.append(conversation_id)
        return read(profile, conversation_id)

    async def seen_event(self, event):
        await handle_event(self, event)
        events_seen.append(event["conversation"])

    monkeypatch.setattr(consumers, "get_assigned_conversation", counted_read)
    monkeypatch.setattr(consumers.StaffConsoleConsumer, "console_assigned", seen_event)
    visitor, operator, conversation = await claimed(national)
    await eventually(
        lambda: events_seen, timeout=5, message="the claim's own event never came"
    )
    assert events_seen == [conversation]
    assert [str(key) for key in reads] == [conversation]
    for communicator in (visitor, operator):
        await communicator.disconnect()


async def test_a_console_hello_waits_for_a_slot_while_messages_go_on(
    national, settings
):
    """A shift change connects dozens of consoles at once, and a hello
    reads as much as an opening: it takes its turn like one."""
    settings.SETUP_CONCURRENCY = settings.SETUP_CONCURRENCY_QUIET = 1
    visitor, operator, _conversation = await claimed(national)
    colleague = await database_sync_to_async(make_operator)(national)
    cookie = await database_sync_to_async(make_session_cookie)(colleague)
    console = staff_communicator(cookie)

    slot = setup_slot()
    await slot.acquire()  # another opening holds the only slot
    try:
        assert (await console.connect())[0]
        said = str(uuid.uuid4())
        await visitor.send_json_to({"type": "message", "id": said, "text": "Allô ?"})
        assert (await receive_until(operator, "message", timeout=5))["id"] == said
        assert await console.receive_nothing(timeout=0.3)
    finally:
        slot.release()
    assert (await receive_until(console, "hello", timeout=10))["type"] == "hello"
    for communicator in (visitor, operator, console):
        await communicator.disconnect()


CLIENT = "198.51.100.7"


async def test_a_start_is_counted_before_its_turn_and_given_back_if_refused(
    national, settings
):
    """A start's admission is counted before it waits for a slot (a Redis
    round trip is no database work); a start refused gives its count back."""
    settings.ADMISSION_STARTS_PER_CLIENT = 1
    visitor = visitor_from_address(CLIENT)
    assert (await visitor.connect())[0]
    await visitor.send_json_to({**START, "place": "99999"})
    assert (await receive_until(visitor, "error"))["code"] == "invalid_place"
    await visitor.send_json_to(START)
    assert (await receive_until(visitor, "started"))["type"] == "started"
    again = visitor_from_address(CLIENT)
    assert (await again.connect())[0]
    await again.send_json_to(START)
    assert (await receive_until(again, "error"))["code"] == "busy"
    for communicator in (visitor, again):
        await communicator.disconnect()


async def test_a_start_given_up_while_it_waits_for_its_turn_is_not_counted(
    national, settings
):
    settings.ADMISSION_STARTS_PER_CLIENT = 1
    settings.SETUP_CONCURRENCY = settings.SETUP_CONCURRENCY_QUIET = 1
    slot = setup_slot()
    await slot.acquire()  # another opening holds the only slot
    try:
        gone = visitor_from_address(CLIENT)
        assert (await gone.connect())[0]
        await gone.send_json_to(START)
        assert await gone.receive_nothing(timeout=0.2)
        # The server gives up on the closed socket's handler, as Daphne
        # does once its application outlives the close timeout.
        gone.future.cancel()
        await asyncio.gather(gone.future, return_exceptions=True)
    finally:
        slot.release()
    visitor = visitor_from_address(CLIENT)
    assert (await visitor.connect())[0]
    await visitor.send_json_to(START)
    assert (await receive_until(visitor, "started"))["type"] == "started"
    count = await database_sync_to_async(Conversation.objects.count)()
    assert count == 1
    await visitor.disconnect()


async def test_a_claim_shows_its_view_while_the_layer_hangs(national, settings):
    """The view waits for the claim's own events to leave, but no longer
    than one layer send may take: with the layer stuck, the operator
    still sees the conversation within that time."""
    settings.LAYER_SEND_TIMEOUT_SECONDS = 0.3
    settings.LAYER_SEND_MAX_SECONDS = 5.0
    visitor, started = await open_conversation()
    user = await database_sync_to_async(make_operator)(national)
    operator, _hello = await connect_staff(user)
    layer = get_channel_layer()
    stuck = asyncio.Event()

    async def hanging_group_send(group, message):
        await stuck.wait()

    layer.group_send = hanging_group_send
    try:
        began = asyncio.get_running_loop().time()
        view = await claim(operator, started["conversation"], timeout=3)
        took = asyncio.get_running_loop().time() - began
    finally:
        del layer.group_send
        stuck.set()
    assert view["id"] == started["conversation"]
    # One bounded wait, not one per event of the claim (four of them).
    assert took < 1.0, took
    for communicator in (visitor, operator):
        await communicator.disconnect()
