"""Our channel layers: the demo's, its expiry sweep rationed; Redis's, pipelined.

``channels.layers.InMemoryChannelLayer`` walks every channel and every
group membership on every ``receive`` to drop expired messages and
memberships, so a process's cost per message grows with its number of
sockets (bench/README.md "Findings": 70 % of a relay's CPU at N=1000).
Expiry is 60 s for messages and a day for memberships: sweeping once a
second instead of on every receive changes nothing a socket can notice.
"""

import asyncio
import time
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisSingleShardConnection

from channels.layers import InMemoryChannelLayer

from . import layer_cipher

SWEEP_INTERVAL_SECONDS = 1.0
# Publishes in one pipeline at most (a few hundred KiB of encrypted events).
PIPELINE_MAX = 500


class RationedInMemoryChannelLayer(InMemoryChannelLayer):
    """``InMemoryChannelLayer`` whose expiry sweep runs at most once a second."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._swept_at = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._swept_at < SWEEP_INTERVAL_SECONDS:
            return
        self._swept_at = now
        super()._clean_expired()


class PipelinedRedisPubSubChannelLayer(RedisPubSubChannelLayer):
    """``RedisPubSubChannelLayer`` whose publishes leave in pipelines.

    The library publishes one message per round trip behind one lock per
    process, so a process publishes at most one event per loop turn: about
    300 a second under load, and a burst past that queues on the lock. A
    send that waits there longer than ``LAYER_SEND_TIMEOUT_SECONDS`` is
    counted failed, hundreds at a time, and its receivers then wait for the
    retry (bench/README.md, "Third pass"). Here the publishes queued while
    one round trip is out leave together in the next one, in the order
    they were asked for; a send given up by its caller before it left is
    not published. Subscriptions, receiving and everything else are the
    library's. Payloads are sealed with AES-GCM (``realtime.layer_cipher``)
    unless another ``serializer_format`` is given.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("serializer_format", layer_cipher.FORMAT)
        super().__init__(*args, **kwargs)

    def _get_layer(self) -> Any:
        layer = super()._get_layer()
        if not getattr(layer, "_pipelined", False):
            # Replaced before first use: the library makes the loop layer
            # and its shards in the call above.
            layer._shards = [
                _PipelinedShard(shard.host, layer) for shard in layer._shards
            ]
            layer._pipelined = True
        return layer


class _PipelinedShard(RedisSingleShardConnection):
    """One Redis host: publishes queued, then sent one pipeline at a time."""

    def __init__(self, host: Any, channel_layer: Any) -> None:
        super().__init__(host, channel_layer)
        self._outgoing: list[tuple[str, bytes, asyncio.Future]] = []
        self._publisher: asyncio.Task | None = None

    async def publish(self, channel: str, message: bytes) -> None:
        future = asyncio.get_running_loop().create_future()
        self._outgoing.append((channel, message, future))
        if self._publisher is None or self._publisher.done():
            self._publisher = asyncio.ensure_future(self._publish_queued())
        await future

    async def _publish_queued(self) -> None:
        while self._outgoing:
            # A send its caller gave up on (timed out, cancelled) is not
            # published: the caller keeps it for a retry.
            batch = [
                item for item in self._outgoing[:PIPELINE_MAX] if not item[2].done()
            ]
            del self._outgoing[:PIPELINE_MAX]
            if not batch:
                continue
            try:
                self._ensure_redis()
                async with self._redis.pipeline(transaction=False) as pipe:
                    for channel, message, _future in batch:
                        pipe.publish(channel, message)
                    await pipe.execute()
            except asyncio.CancelledError:
                _settle(batch, ConnectionError("channel layer flushed"))
                raise
            except Exception as error:  # noqa: BLE001 - handed to each sender.
                _settle(batch, error)
            else:
                _settle(batch, None)

    async def flush(self) -> None:
        publisher, self._publisher = self._publisher, None
        if publisher is not None and not publisher.done():
            publisher.cancel()
        _settle(self._outgoing, ConnectionError("channel layer flushed"))
        self._outgoing = []
        await super().flush()


def _settle(
    batch: list[tuple[str, bytes, asyncio.Future]], failure: BaseException | None
) -> None:
    """Tell each sender of ``batch`` whether its publish left."""
    for _channel, _message, future in batch:
        if future.done():
            continue
        if failure is None:
            future.set_result(None)
        else:
            future.set_exception(failure)
