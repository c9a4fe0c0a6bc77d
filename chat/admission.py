"""Admission control: no client can flood the queues (issue 11).

Counted per client key (a keyed hash of the address, anonymity.clientkey),
never per address: open visitor sockets, new conversations per window,
wrong resume tokens, and abuse blocks set by operators. The counters live
in Redis with short TTLs when ``REDIS_URL`` is set, so every process sees
the same numbers; in this process's memory otherwise. Nothing here ever
reaches a table or a log line.

Defaults respect carrier-grade NAT: a mobile carrier may put hundreds of
people behind one address, so the per-client limits are loose (they stop
one script, not one household); the per-service waiting ceiling
(``chat.services.conversations``) protects the queue from many clients.
Every refusal carries the emergency numbers: a person in danger never
meets a blank wall.

A process whose event loop lags past ``OVERLOAD_LAG_SECONDS`` refuses new
conversations (``overloaded``, with ``retry_after``) so that those already
open keep their live delivery (issue 14); it refuses nothing else.
"""

import logging
import time
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from anonymity.clientkey import ClientKey, get_redis
from chat.errors import ChatError
from realtime import lag

logger = logging.getLogger(__name__)
# When the last "shedding" line was logged: one a minute at most.
_overload_logged_at = float("-inf")


def emergency_numbers() -> list[dict[str, str]]:
    """The numbers every refusal carries (visitor page shows the same)."""
    return [
        {"number": "17", "label": _("police, gendarmerie")},
        {"number": "112", "label": _("urgences")},
        {"number": "114", "label": _("par SMS, si vous ne pouvez pas parler")},
        {"number": "3919", "label": _("Violences Femmes Info, 24 h/24")},
        {"number": "119", "label": _("enfance en danger, 24 h/24")},
    ]


def refusal(code: str, reason: str) -> ChatError:
    """A refusal whose message and frame both carry the emergency numbers."""
    message = _(
        "%(reason)s En cas de danger immédiat, appelez le 17 ou le 112, ou "
        "envoyez un SMS au 114. Violences Femmes Info : 3919. Enfant en "
        "danger : 119."
    ) % {"reason": reason}
    return ChatError(code, message, emergency=emergency_numbers())


class MemoryCounters:
    """Counters with expiry in this process's memory (demo, tests)."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[int, float]] = {}

    def _live(self, name: str) -> int:
        value, expires = self.values.get(name, (0, 0.0))
        if expires <= time.monotonic():
            self.values.pop(name, None)
            return 0
        return value

    async def incr(self, name: str, ttl: float, *, refresh: bool = True) -> int:
        value = self._live(name) + 1
        expires = self.values.get(name, (0, 0.0))[1]
        if refresh or value == 1:
            expires = time.monotonic() + ttl
        self.values[name] = (value, expires)
        if len(self.values) > 100_000:
            for key in [
                k for k, (_v, e) in self.values.items() if e <= time.monotonic()
            ]:
                del self.values[key]
        return value

    async def decr(self, name: str) -> None:
        value = self._live(name)
        if value > 1:
            self.values[name] = (value - 1, self.values[name][1])
        else:
            self.values.pop(name, None)

    async def get(self, name: str) -> int:
        return self._live(name)

    async def put(self, name: str, ttl: float) -> None:
        self.values[name] = (1, time.monotonic() + ttl)

    def clear(self) -> None:
        self.values.clear()


class RedisCounters:
    """The same counters in Redis, shared by every process."""

    async def incr(self, name: str, ttl: float, *, refresh: bool = True) -> int:
        redis = get_redis()
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            if refresh:
                pipe.expire(name, int(ttl) + 1)
            else:
                pipe.expire(name, int(ttl) + 1, nx=True)
            value, _ignored = await pipe.execute()
        return int(value)

    async def decr(self, name: str) -> None:
        redis = get_redis()
        value = await redis.decr(name)
        if int(value) <= 0:
            await redis.delete(name)

    async def get(self, name: str) -> int:
        value = await get_redis().get(name)
        return int(value) if value is not None else 0

    async def put(self, name: str, ttl: float) -> None:
        await get_redis().set(name, 1, ex=int(ttl) + 1)


memory_counters = MemoryCounters()


def counters() -> Any:
    return RedisCounters() if settings.REDIS_URL else memory_counters


def _name(kind: str, hashed: str) -> str:
    return f"{settings.ADMISSION_PREFIX}:{kind}:{hashed}"


async def _safely(coro: Any, default: Any) -> Any:
    """Run a counter operation; if Redis fails, admit rather than refuse."""
    try:
        return await coro
    except Exception as error:  # noqa: BLE001 - fail open, one line.
        logger.warning("admission counters unavailable: %s", type(error).__name__)
        return default


async def admit_socket(client: ClientKey | None) -> None:
    """Count an open visitor socket, or refuse it (``too_many_connections``)."""
    if client is None:
        return
    name = _name("sock", client.current)
    opened = await _safely(
        counters().incr(name, settings.ADMISSION_SOCKET_TTL_SECONDS), 0
    )
    if opened > settings.ADMISSION_SOCKETS_PER_CLIENT:
        await _safely(counters().decr(name), None)
        raise refusal(
            "too_many_connections",
            _(
                "Trop de connexions ouvertes depuis "
                "votre réseau, réessayez dans un instant."
            ),
        )


async def release_socket(client: ClientKey | None) -> None:
    if client is not None:
        await _safely(counters().decr(_name("sock", client.current)), None)


async def check_not_blocked(client: ClientKey | None) -> None:
    """Refuse a client an operator marked abusive, for the block's time."""
    if client is None:
        return
    for hashed in (client.current, client.previous):
        if await _safely(counters().get(_name("block", hashed)), 0):
            raise refusal(
                "blocked",
                _(
                    "Les nouvelles conversations depuis votre "
                    "réseau sont suspendues pour un moment."
                ),
            )


def check_not_overloaded() -> None:
    """Refuse a new conversation while this process's loop lags.

    Past ``OVERLOAD_LAG_SECONDS`` every frame of every open conversation
    already waits that long per loop turn; another conversation would add
    to everyone's delay. The page retries by itself after ``retry_after``.
    """
    global _overload_logged_at
    seconds = lag.loop_lag_seconds()
    if seconds <= settings.OVERLOAD_LAG_SECONDS:
        return
    now = time.monotonic()
    if now - _overload_logged_at >= 60:
        _overload_logged_at = now
        logger.warning("refusing new conversations: event loop %.1f s late", seconds)
    error = refusal(
        "overloaded",
        _(
            "Le service est très sollicité en ce moment : "
            "réessayez dans quelques instants."
        ),
    )
    error.extra["retry_after"] = settings.OVERLOAD_RETRY_AFTER_SECONDS
    raise error


async def admit_start(client: ClientKey | None) -> None:
    """Count a new conversation in the window, or refuse it (``busy``)."""
    await check_not_blocked(client)
    if client is None:
        return
    started = await _safely(
        counters().incr(
            _name("start", client.current),
            settings.ADMISSION_START_WINDOW_SECONDS,
            refresh=False,
        ),
        0,
    )
    if started > settings.ADMISSION_STARTS_PER_CLIENT:
        raise refusal(
            "busy",
            _(
                "Trop de conversations ont été ouvertes "
                "depuis votre réseau, réessayez dans quelques minutes."
            ),
        )


async def check_token_attempts(client: ClientKey | None) -> None:
    """Refuse a client with too many wrong resume tokens (``rate_limited``)."""
    if client is None:
        return
    wrong = await _safely(counters().get(_name("token", client.current)), 0)
    if wrong >= settings.ADMISSION_WRONG_TOKENS_PER_CLIENT:
        raise ChatError(
            "rate_limited", _("Trop de tentatives : réessayez dans quelques minutes.")
        )


async def note_wrong_token(client: ClientKey | None) -> None:
    if client is not None:
        await _safely(
            counters().incr(
                _name("token", client.current),
                settings.ADMISSION_START_WINDOW_SECONDS,
                refresh=False,
            ),
            0,
        )


async def block_client(client: ClientKey | None) -> None:
    """Refuse new conversations from this client for ``ABUSE_BLOCK_MINUTES``."""
    if client is not None:
        await _safely(
            counters().put(
                _name("block", client.current), settings.ABUSE_BLOCK_MINUTES * 60
            ),
            None,
        )


async def unadmit_start(client: ClientKey | None) -> None:
    """Give back a start that did not open a conversation (bad place...)."""
    if client is not None:
        await _safely(counters().decr(_name("start", client.current)), None)
