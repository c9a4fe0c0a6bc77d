"""The Redis layer's publishes leave in pipelines, in order, on a real Redis.

The library's layer publishes one event per round trip behind one lock,
so a process publishes about one event per event-loop turn: a burst of
sends on a busy process queued on the lock past the send limit and
failed by the hundred (bench/README.md, "Third pass").
"""

import asyncio
import time
import uuid

import pytest

from realtime import events, lag
from realtime.layers import PipelinedRedisPubSubChannelLayer

pytestmark = pytest.mark.integration

BURST = 400
# Every loop turn is made at least this slow, as on a busy server.
TURN_SECONDS = 0.004


def make_layer(redis_url: str) -> PipelinedRedisPubSubChannelLayer:
    return PipelinedRedisPubSubChannelLayer(
        hosts=[redis_url],
        prefix=f"pipe-{uuid.uuid4().hex[:8]}",
        symmetric_encryption_keys=["pipe-layer-key"],
    )


async def slow_every_turn(stop: asyncio.Event) -> None:
    """Burn ``TURN_SECONDS`` of CPU on every loop turn until ``stop``."""
    while not stop.is_set():
        time.sleep(TURN_SECONDS)  # noqa: ASYNC251 - a busy loop, on purpose.
        await asyncio.sleep(0)


async def burst_on_a_busy_loop(layer, settings) -> tuple[list[int], list[int]]:
    """Send ``BURST`` events at once; return the failures and what arrived."""
    settings.LAYER_SEND_TIMEOUT_SECONDS = 1.0
    channel = await layer.new_channel()
    await layer.group_add("room", channel)
    stop = asyncio.Event()
    busy = asyncio.ensure_future(slow_every_turn(stop))
    failed: list[int] = []

    async def send(number: int) -> None:
        try:
            await events._send(layer, "room", {"type": "t.n", "n": number})
        except TimeoutError:
            failed.append(number)

    lag.ensure_running()
    try:
        await asyncio.gather(*(send(number) for number in range(BURST)))
    finally:
        stop.set()
        await busy
    arrived: list[int] = []
    while len(arrived) < BURST - len(failed):
        message = await asyncio.wait_for(layer.receive(channel), 5)
        arrived.append(message["n"])
    await layer.flush()
    await lag.stop()
    return failed, arrived


async def test_a_burst_on_a_busy_loop_is_published_whole_and_in_order(
    redis_url, settings
):
    failed, arrived = await burst_on_a_busy_loop(make_layer(redis_url), settings)
    assert failed == []
    assert arrived == list(range(BURST))


async def test_a_send_given_up_before_it_left_is_not_published(redis_url, settings):
    layer = make_layer(redis_url)
    channel = await layer.new_channel()
    await layer.group_add("room", channel)
    first = asyncio.ensure_future(layer.group_send("room", {"type": "t.n", "n": 1}))
    given_up = asyncio.ensure_future(layer.group_send("room", {"type": "t.n", "n": 2}))
    third = asyncio.ensure_future(layer.group_send("room", {"type": "t.n", "n": 3}))
    await asyncio.sleep(0)  # all three queued, the first pipeline not sent yet
    given_up.cancel()
    await asyncio.gather(first, third)
    got = [(await asyncio.wait_for(layer.receive(channel), 5))["n"] for _ in range(2)]
    assert got == [1, 3]
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(channel), 0.3)
    await layer.flush()


async def test_two_processes_layers_talk_through_redis_in_sealed_tokens(redis_url):
    """What Redis carries is a sealed token, and another process's layer
    (its own sender key) opens it."""
    import redis.asyncio as redis

    from realtime.layer_cipher import VERSION

    prefix = f"seal-{uuid.uuid4().hex[:8]}"
    sender, receiver = (
        PipelinedRedisPubSubChannelLayer(
            hosts=[redis_url], prefix=prefix, symmetric_encryption_keys=["seal-key"]
        )
        for _ in range(2)
    )
    channel = await receiver.new_channel()
    await receiver.group_add("room", channel)
    spy = redis.Redis.from_url(redis_url)
    pubsub = spy.pubsub()
    await pubsub.psubscribe(f"{prefix}*")
    await pubsub.get_message(timeout=1)  # the subscription's confirmation
    event = {"type": "chat.message", "seq": 1, "frame": {"text": "secret words"}}
    await sender.group_send("room", event)
    assert await asyncio.wait_for(receiver.receive(channel), 5) == event
    raw = None
    while raw is None:
        raw = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
    assert raw["data"][:1] == VERSION
    assert b"secret" not in raw["data"]
    await pubsub.aclose()
    await spy.aclose()
    await sender.flush()
    await receiver.flush()
