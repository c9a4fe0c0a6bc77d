"""The client key: a keyed hash of the address, for admission control only.

Admission control (chat.admission) must count sockets and conversations
per client without keeping addresses. The middleware computes, at the
very point where the address is sealed and removed from the scope,
HMAC-SHA256(key, address) under a key that:

- is random, never derived from a setting and never written to disk;
- rotates every ``CLIENT_KEY_ROTATE_MINUTES``, so a hash links a client's
  connections for one period at most (the previous period's hash is kept
  beside it only so an abuse block does not end early at a rotation);
- is shared by every process through Redis when ``REDIS_URL`` is set
  (``SET NX`` with an expiry: the first process to need it makes it), so
  counters agree across processes; in-process otherwise.

Hashes live in memory and in Redis keys with short TTLs, never in a
table, a log line or a frame. Redis must run without persistence (as the
channel layer's already should), or its dumps would hold them for a TTL.
"""

import asyncio
import hashlib
import hmac
import secrets
import threading
import time
import weakref
from dataclasses import dataclass

from django.conf import settings

_local_keys: dict[int, bytes] = {}
_local_lock = threading.Lock()
_shared_keys: dict[int, bytes] = {}
# After a Redis failure, use the local key for a while instead of waiting
# for a timeout on every connection.
REDIS_RETRY_SECONDS = 5.0
_redis_failed_at = [0.0]
# One client per event loop, keyed by the loop itself (weakly): a loop's
# id can be reused by a later loop, which must not inherit connections
# (and a pool condition) bound to a dead one.
_redis_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, object]" = (
    weakref.WeakKeyDictionary()
)
# Commands in flight at once per process (one event loop): more than a
# loop keeps busy on sub-millisecond commands. Past it a command waits up
# to REDIS_POOL_WAIT_SECONDS for a free connection; it never fails at
# once, as redis-py's default pool does past 100 (admission would then
# admit a burst uncounted). A wait that times out is "Redis unavailable".
REDIS_POOL_SIZE = 50
REDIS_POOL_WAIT_SECONDS = 1.0


@dataclass(frozen=True, repr=False)
class ClientKey:
    """The current hash of a client's address, and the previous period's."""

    current: str
    previous: str

    def __repr__(self) -> str:
        return "ClientKey(<hidden>)"

    __str__ = __repr__


def _period(now: float | None = None) -> int:
    length = max(60, int(settings.CLIENT_KEY_ROTATE_MINUTES * 60))
    return int((now if now is not None else time.time()) // length)


def _local_key(period: int) -> bytes:
    with _local_lock:
        key = _local_keys.get(period)
        if key is None:
            key = secrets.token_bytes(32)
            _local_keys[period] = key
            for old in [p for p in _local_keys if p < period - 1]:
                del _local_keys[old]
        return key


def get_redis():  # a redis.asyncio.Redis
    """Return this event loop's Redis client for admission (None if none)."""
    if not settings.REDIS_URL:
        return None
    import redis.asyncio as redis_asyncio

    loop = asyncio.get_running_loop()
    client = _redis_clients.get(loop)
    if client is None:
        pool = redis_asyncio.BlockingConnectionPool.from_url(
            settings.REDIS_URL,
            max_connections=REDIS_POOL_SIZE,
            timeout=REDIS_POOL_WAIT_SECONDS,
            socket_timeout=1,
            socket_connect_timeout=1,
        )
        # The client owns the pool: closing it closes the connections.
        client = redis_asyncio.Redis.from_pool(pool)
        _redis_clients.clear()
        _redis_clients[loop] = client
    return client


async def _shared_key(period: int) -> bytes:
    redis = get_redis()
    if redis is None:
        return _local_key(period)
    with _local_lock:
        cached = _shared_keys.get(period)
    if cached is not None:
        return cached
    name = f"{settings.ADMISSION_PREFIX}:ck:{period}"
    ttl = int(settings.CLIENT_KEY_ROTATE_MINUTES * 60 * 2) + 60
    await redis.set(name, secrets.token_bytes(32), nx=True, ex=ttl)
    key = await redis.get(name)
    with _local_lock:
        _shared_keys[period] = key
        for old in [p for p in _shared_keys if p < period - 1]:
            del _shared_keys[old]
    return key


def _digest(key: bytes, address: str) -> str:
    return hmac.new(key, address.encode(), hashlib.sha256).hexdigest()[:32]


async def compute_client_key(address: str | None) -> ClientKey | None:
    """Return the client key of ``address``; None without an address.

    If Redis cannot be reached, a process-local key is used: limits then
    count per process, which is still better than none.
    """
    if not address:
        return None
    period = _period()
    if time.monotonic() - _redis_failed_at[0] < REDIS_RETRY_SECONDS:
        current, previous = _local_key(period), _local_key(period - 1)
        return ClientKey(_digest(current, address), _digest(previous, address))
    try:
        current = await _shared_key(period)
        previous = await _shared_key(period - 1)
    except Exception:  # noqa: BLE001 - Redis down: fall back, never refuse.
        _redis_failed_at[0] = time.monotonic()
        current, previous = _local_key(period), _local_key(period - 1)
    return ClientKey(_digest(current, address), _digest(previous, address))
