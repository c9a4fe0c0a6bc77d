"""A queue change costs one layer delivery per process, not one per console.

``console/queue_feed.py``: the process follows each service's queue group
once and fans a change out to its sockets, with one read and one frame text
per distinct set of services. These tests count what crosses the layer and
what the feed does as the number of open consoles grows, and check that
every console still gets its queue, also after the layer failed.
"""

import asyncio
import json
import threading
import time

import pytest

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from chat import events
from chat.models import Conversation
from chat.services.queue import read_queue_place
from console import queue_feed
from console.consumers import StaffConsoleConsumer
from console.models import StaffProfile
from tests.factories import make_conversation, make_operator, make_service, make_staff
from tests.helpers import connect_staff, drain, receive_until, start_visitor
from tests.integration.client import eventually
from tests.marks import SOCKET_TESTS

pytestmark = SOCKET_TESTS


@pytest.fixture
def enfance(db):
    return make_service("enfance", name="Cellule enfance", is_default=False)


class Counts:
    """What one queue change cost: layer deliveries, feed calls, reads."""

    def __init__(self) -> None:
        self.deliveries = 0
        self.noted = 0
        self.reads: list[list[int]] = []
        self.rendered = 0

    def reset(self) -> None:
        self.__init__()


@pytest.fixture
def counts(monkeypatch):
    counts = Counts()
    layer = get_channel_layer()
    send = layer.send

    async def counting_send(channel, message):
        if message.get("type") == "console.queue_changed":
            counts.deliveries += 1
        return await send(channel, message)

    # group_send hands each member channel to ``self.send``.
    monkeypatch.setattr(layer, "send", counting_send)
    noted = queue_feed.queue_changed

    def counting_noted(service_id):
        counts.noted += 1
        noted(service_id)

    monkeypatch.setattr(queue_feed, "queue_changed", counting_noted)
    read = queue_feed.list_queue_snapshots

    def counting_read(service_ids):
        counts.reads.append(list(service_ids))
        return read(service_ids)

    monkeypatch.setattr(queue_feed, "list_queue_snapshots", counting_read)
    render = getattr(queue_feed, "queue_frame_text", None)

    def counting_render(items):
        counts.rendered += 1
        return render(items)

    monkeypatch.setattr(queue_feed, "queue_frame_text", counting_render, raising=False)
    return counts


async def open_consoles(service, count, start=0):
    consoles = []
    for index in range(start, start + count):
        user = await database_sync_to_async(make_operator)(
            service, pseudonym=f"Opérateur {index}"
        )
        consoles.append((await connect_staff(user))[0])
    return consoles


async def one_change(consoles, counts):
    """Start one conversation; every console must show it. Return its cost."""
    counts.reset()
    visitor, started = await start_visitor()
    for console in consoles:
        queue = await receive_until(console, "queue")
        assert started["conversation"] in [i["conversation"] for i in queue["items"]]
    # Whatever was still on its way arrives (or not) now.
    await asyncio.sleep(queue_feed.DEBOUNCE_SECONDS * 4)
    cost = (counts.deliveries, counts.noted, len(counts.reads), counts.rendered)
    return visitor, cost


async def test_a_queue_change_costs_the_same_whatever_the_open_consoles(
    national, counts
):
    consoles = await open_consoles(national, 2)
    first_visitor, with_two = await one_change(consoles, counts)
    consoles += await open_consoles(national, 6, start=2)
    for console in consoles[:2]:
        await drain(console, wait=0.1)
    second_visitor, with_eight = await one_change(consoles, counts)
    # One delivery to the process, one note, one read, one frame text.
    assert with_two == with_eight == (1, 1, 1, 1)
    for socket in (first_visitor, second_visitor, *consoles):
        await socket.disconnect()


async def test_consoles_do_not_join_the_queue_group(national):
    user = await database_sync_to_async(make_operator)(national)
    console, _hello = await connect_staff(user)
    layer = get_channel_layer()
    members = set(layer.groups[events.service_queue_group_name(national.id)])
    assert len(members) == 1
    (channel,) = members
    assert channel.startswith(queue_feed.CHANNEL_PREFIX)
    staff_group = layer.groups[events.service_staff_group_name(national.id)]
    assert channel not in staff_group and len(staff_group) == 1
    await console.disconnect()
    # Kept for the next console: the subscription outlives its sockets.
    assert set(layer.groups[events.service_queue_group_name(national.id)]) == members


async def test_each_set_of_services_gets_its_own_frame_text_once(
    national, enfance, counts
):
    national_only = await database_sync_to_async(make_operator)(national)
    both = await database_sync_to_async(make_staff)(services=(national, enfance))
    also_both = await database_sync_to_async(make_staff)(services=(enfance, national))
    consoles = [(await connect_staff(user))[0] for user in (national_only, both)]
    consoles.append((await connect_staff(also_both))[0])
    counts.reset()
    visitor, started = await start_visitor(service="enfance")
    for console in consoles[1:]:
        queue = await receive_until(console, "queue")
        assert [i["conversation"] for i in queue["items"]] == [started["conversation"]]
    assert counts.rendered == 1
    assert counts.reads == [[national.id, enfance.id]]
    # A change of enfance is none of a national-only console's business.
    assert [f for f in await drain(consoles[0], wait=0.2) if f["type"] == "queue"] == []
    for socket in (visitor, *consoles):
        await socket.disconnect()


async def test_auto_assign_and_the_board_are_triggered_locally_per_socket(
    national, monkeypatch
):
    monkeypatch.setattr("console.consumers.QUEUE_DEBOUNCE_SECONDS", 0.01)
    triggered = []
    original = StaffConsoleConsumer.queue_changed_here

    def counting(self):
        triggered.append(self.profile.user_id)
        original(self)

    monkeypatch.setattr(StaffConsoleConsumer, "queue_changed_here", counting)
    opted_in = await database_sync_to_async(make_operator)(national)
    await StaffProfile.objects.filter(user=opted_in).aupdate(auto_assign=True)
    supervisor = await database_sync_to_async(make_staff)(
        roles=(StaffProfile.Role.SUPERVISOR,), services=(national,)
    )
    operator, _ = await connect_staff(opted_in)
    watcher, _ = await connect_staff(supervisor)
    await drain(watcher, wait=0.1)
    visitor, started = await start_visitor()
    assigned = await receive_until(operator, "assigned")
    assert assigned["conversation"]["id"] == started["conversation"]
    board = await receive_until(watcher, "board", timeout=2)
    assert board["type"] == "board"
    assert set(triggered) == {opted_in.id, supervisor.id}
    for socket in (visitor, operator, watcher):
        await socket.disconnect()


async def test_the_feed_reads_again_and_resends_after_the_layer_failed(
    national, monkeypatch
):
    monkeypatch.setattr(queue_feed, "RETRY_SECONDS", 0.01)
    user = await database_sync_to_async(make_operator)(national)
    console, _hello = await connect_staff(user)
    layer = get_channel_layer()
    group = events.service_queue_group_name(national.id)
    (lost,) = layer.groups[group]
    receive = layer.receive
    failures = []

    async def failing_once(channel):
        if not failures:
            failures.append(channel)
            raise ConnectionError("layer down")
        return await receive(channel)

    monkeypatch.setattr(layer, "receive", failing_once)
    # Wake the reader: its next receive fails.
    await layer.group_send(group, {"type": "console.queue_changed", "service": -1})
    # It takes a new channel, leaves the old one and resends the queue.
    assert (await receive_until(console, "queue"))["items"] == []
    (channel,) = layer.groups[group]
    assert channel != lost and failures
    visitor, started = await start_visitor()
    queue = await receive_until(console, "queue")
    assert [i["conversation"] for i in queue["items"]] == [started["conversation"]]
    await visitor.disconnect()
    await console.disconnect()


class Watcher:
    def __init__(self, service_ids):
        self.service_ids = service_ids
        self.texts: list[str] = []

    async def send_queue_text(self, text):
        self.texts.append(text)

    def queue_changed_here(self):
        pass


async def test_a_change_heard_before_a_socket_subscribes_still_reaches_it(national):
    """Between ``listen`` and ``subscribe`` the socket reads and sends hello."""
    layer = get_channel_layer()
    group = events.service_queue_group_name(national.id)
    late, on_time = Watcher([national.id]), Watcher([national.id])
    mark = await queue_feed.listen([national.id])
    await layer.group_send(
        group, {"type": "console.queue_changed", "service": national.id}
    )
    await asyncio.sleep(queue_feed.DEBOUNCE_SECONDS * 4)
    queue_feed.subscribe(late, since=mark)
    await asyncio.sleep(queue_feed.DEBOUNCE_SECONDS * 4)
    assert [json.loads(text) for text in late.texts] == [{"type": "queue", "items": []}]
    # Read after the change: nothing new to send.
    queue_feed.subscribe(on_time, since=await queue_feed.listen([national.id]))
    await asyncio.sleep(queue_feed.DEBOUNCE_SECONDS * 4)
    assert on_time.texts == [] and len(late.texts) == 1
    queue_feed.unsubscribe(late)
    queue_feed.unsubscribe(on_time)


async def test_a_change_heard_during_a_read_is_read_again_after_it(
    national, monkeypatch
):
    """The flush copies the changes, then reads: a later one needs a round."""
    reading, release = threading.Event(), threading.Event()
    reads = []
    original = queue_feed.list_queue_snapshots

    def slow_first_read(service_ids):
        reads.append(list(service_ids))
        if len(reads) == 1:
            reading.set()
            release.wait(5)
        return original(service_ids)

    monkeypatch.setattr(queue_feed, "list_queue_snapshots", slow_first_read)
    watcher = Watcher([national.id])
    queue_feed.subscribe(watcher)
    queue_feed.queue_changed(national.id)
    assert await asyncio.to_thread(reading.wait, 5)
    queue_feed.queue_changed(national.id)
    release.set()
    # The next round waits as long as the first read took (``_spacing``):
    # on a busy machine, longer than a few debounces.
    await eventually(lambda: len(reads) == 2, timeout=5)
    await asyncio.sleep(queue_feed.DEBOUNCE_SECONDS * 6)
    assert reads == [[national.id], [national.id]]
    assert len(watcher.texts) == 2
    queue_feed.unsubscribe(watcher)


class Recorder:
    """A watcher that records when each queue frame reached it."""

    def __init__(self, service_id: int) -> None:
        self.service_ids = [service_id]
        self.frames: list[float] = []

    async def send_queue_text(self, text: str) -> None:
        self.frames.append(asyncio.get_running_loop().time())

    def queue_changed_here(self) -> None:
        pass


async def test_an_idle_feed_flushes_at_once_and_a_burst_waits_the_debounce(
    national, monkeypatch
):
    """Leading edge: a lone start is not held back by the debounce."""
    monkeypatch.setattr(queue_feed, "DEBOUNCE_SECONDS", 2.0)
    monkeypatch.setattr(queue_feed, "_flushed_at", 0.0)
    recorder = Recorder(national.id)
    queue_feed.subscribe(recorder)
    try:
        loop = asyncio.get_running_loop()
        began = loop.time()
        queue_feed.queue_changed(national.id)
        for _ in range(100):
            if recorder.frames:
                break
            await asyncio.sleep(0.02)
        assert recorder.frames and recorder.frames[0] - began < 1.0
        # A change right after a flush waits for the debounce.
        queue_feed.queue_changed(national.id)
        await asyncio.sleep(0.5)
        assert len(recorder.frames) == 1
    finally:
        queue_feed.unsubscribe(recorder)
        await asyncio.sleep(2.1)


@pytest.fixture
def place_reads(feed_reads):
    """The feed's reads of the waiting order, for visitors' places."""
    return feed_reads("list_waiting_places")


async def test_waiting_visitors_hear_their_places_from_one_read(national, place_reads):
    """A claim moves everyone up: one read, not one event per visitor."""
    visitors = [await start_visitor() for _ in range(4)]
    assert [started["queue"]["position"] for _v, started in visitors] == [1, 2, 3, 4]
    user = await database_sync_to_async(make_operator)(national)
    console, _hello = await connect_staff(user)
    await asyncio.sleep(queue_feed.DEBOUNCE_SECONDS * 4)
    for visitor, _started in visitors:
        await drain(visitor, wait=0.05)
    place_reads.clear()
    await console.send_json_to({"type": "claim", "id": "c1"})
    await receive_until(console, "assigned")
    for place, (visitor, _started) in enumerate(visitors[1:], start=1):
        queue = await receive_until(visitor, "queue")
        assert queue["position"] == place
    await asyncio.sleep(queue_feed.DEBOUNCE_SECONDS * 4)
    assert place_reads == [[national.id]]
    # The one claimed hears it is taken, and no place.
    claimed = await drain(visitors[0][0], wait=0.2)
    assert "queue" not in [frame["type"] for frame in claimed]
    for socket in (console, *(visitor for visitor, _s in visitors)):
        await socket.disconnect()


class Place:
    """A waiting visitor's socket, as the feed sees it."""

    def __init__(self, conversation) -> None:
        self.place_service_id = conversation.service_id
        self.place_conversation_id = conversation.id
        self.places: list[int] = []

    async def send_place(self, position: int, wait: int) -> None:
        self.places.append(position)


async def announce(service_id, by=None):
    """Send what a commit of a queue change sends; the feed hears it."""
    event = {"type": "console.queue_changed", "service": service_id}
    if by is not None:
        event["by"] = str(by)
    await get_channel_layer().group_send(
        events.service_queue_group_name(service_id), event
    )
    await heard()


async def heard():
    """Let the feed hear what was sent and flush it."""
    await asyncio.sleep(queue_feed.DEBOUNCE_SECONDS * 4)


async def arrive(service):
    """A start; its event (``by`` it) is sent on commit and heard."""
    conversation, _token = await database_sync_to_async(make_conversation)(service)
    await heard()
    return conversation


@pytest.mark.parametrize(
    "changes", [("claim",), ("own", "claim"), ("claim", "own")], ids="-".join
)
async def test_a_place_that_moved_between_the_attach_read_and_the_follow_is_told(
    national, place_reads, changes
):
    """The attach reads the place after ``listen``; the follow comes later."""
    head = await arrive(national)
    mine = await arrive(national)
    socket = Place(mine)
    mark = await queue_feed.listen([national.id])
    assert await database_sync_to_async(read_queue_place)(mine) == 2
    # Heard before the socket follows: the head is claimed, and its own
    # arrival (its event leaves in the background, so may come late).
    for change in changes:
        if change == "claim":
            await Conversation.objects.filter(id=head.id).aupdate(
                status=Conversation.Status.ACTIVE
            )
        await announce(national.id, by=mine.id if change == "own" else None)
    await queue_feed.follow_place(socket, mark)
    await heard()
    assert socket.places == [1]
    assert place_reads == [[national.id]]
    queue_feed.unfollow_place(socket)


async def test_its_own_arrival_is_not_read_again_but_the_next_change_is(
    national, place_reads
):
    head = await arrive(national)
    mark = await queue_feed.listen([national.id])
    mine = await arrive(national)
    socket = Place(mine)
    assert await database_sync_to_async(read_queue_place)(mine) == 2
    await queue_feed.follow_place(socket, mark)
    # Its arrival heard again (a retried event): still nothing new to it.
    await announce(national.id, by=mine.id)
    assert socket.places == [] and place_reads == []
    # Someone else's arrival: read, and its place told (the socket itself
    # drops a place it already shows).
    await arrive(national)
    assert socket.places == [2] and place_reads == [[national.id]]
    await Conversation.objects.filter(id=head.id).aupdate(
        status=Conversation.Status.ACTIVE
    )
    await announce(national.id)
    assert socket.places == [2, 1]
    queue_feed.unfollow_place(socket)


def test_a_dear_flush_spaces_the_next_ones(monkeypatch, settings):
    """After a flush that took long, the next waits: flushes take a share."""
    settings.QUEUE_FLUSH_SHARE = 0.25
    monkeypatch.setattr(queue_feed, "_flush_took", 0.002)
    assert queue_feed._spacing() == queue_feed.DEBOUNCE_SECONDS
    monkeypatch.setattr(queue_feed, "_flush_took", 0.1)
    assert queue_feed._spacing() == pytest.approx(0.4)
    monkeypatch.setattr(queue_feed, "_flush_took", 5.0)
    assert queue_feed._spacing() == queue_feed.FLUSH_WAIT_MAX_SECONDS


async def test_the_feed_measures_its_flushes_and_waits_after_a_dear_one(
    monkeypatch, settings
):
    """Two changes in a row: the second flush waits the spacing, not 50 ms."""
    settings.QUEUE_FLUSH_SHARE = 0.25
    started: list[float] = []

    async def dear_flush() -> int:
        started.append(time.monotonic())
        queue_feed._changed.clear()
        await asyncio.sleep(0.1)
        return 0

    monkeypatch.setattr(queue_feed, "flush", dear_flush)
    monkeypatch.setattr(queue_feed, "_flushed_at", 0.0)
    monkeypatch.setattr(queue_feed, "_changed", {1})
    monkeypatch.setattr(queue_feed, "_places_changed", set())
    await queue_feed._flush_soon()
    assert queue_feed._flush_took == pytest.approx(0.1, abs=0.05)
    queue_feed._changed.add(1)
    await queue_feed._flush_soon()
    assert len(started) == 2
    # The first ended about 0.1 s after it started; the next waited 0.4 s.
    assert started[1] - started[0] >= 0.1 + 0.4 - 0.02


async def test_a_start_marks_before_it_knows_its_service(national, place_reads):
    """A visitor's start takes its mark before routing picks the service.

    A service the process followed then has its mark; one it did not is
    read once followed, as changes before could not be heard.
    """
    before = queue_feed.mark()
    assert before.since_for(national.id) is None
    visitor, started = await start_visitor()
    assert started["queue"]["position"] == 1
    # Not followed at the mark: read once followed, and its own arrival,
    # heard after, is news to it too; the page keeps the place it shows.
    # Once per service in a process's life.
    await heard()
    assert place_reads and all(read == [national.id] for read in place_reads)
    # Gone, but its conversation still waits: the next one is second.
    await visitor.disconnect()
    place_reads.clear()
    mark = queue_feed.mark()
    assert mark.since_for(national.id) == mark.heard
    # Followed: the next start's own arrival is not read again.
    other, started = await start_visitor()
    assert started["queue"]["position"] == 2
    await heard()
    assert place_reads == []
    await other.disconnect()
