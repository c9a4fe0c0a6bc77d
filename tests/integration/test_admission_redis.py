"""Admission counters on a real Redis: shared key, limits, blocks, TTLs.

Two event loops with cold caches stand for two processes: they derive
the same client key from the key one of them created in Redis, and they
count against the same limits.
"""

import asyncio
import logging
import uuid

import pytest

from anonymity import clientkey
from chat import admission
from chat.errors import ChatError

ADDRESS = "198.51.100.23"


def cold_caches() -> None:
    clientkey._shared_keys.clear()
    clientkey._redis_clients.clear()


@pytest.fixture
def on_redis(settings, redis_url):
    settings.REDIS_URL = redis_url
    settings.ADMISSION_PREFIX = f"adm-test-{uuid.uuid4().hex[:8]}"
    settings.ADMISSION_SOCKETS_PER_CLIENT = 3
    settings.ADMISSION_STARTS_PER_CLIENT = 2
    cold_caches()
    yield
    cold_caches()


@pytest.mark.integration
def test_counters_and_keys_are_shared_through_redis(on_redis):
    async def process_a():
        key = await clientkey.compute_client_key(ADDRESS)
        for _ in range(3):
            await admission.admit_socket(key)
        await admission.admit_start(key)
        return key

    async def process_b():
        key = await clientkey.compute_client_key(ADDRESS)
        refusals = []
        try:
            await admission.admit_socket(key)  # the fourth socket
        except ChatError as error:
            refusals.append(error.code)
        await admission.admit_start(key)  # the second start of the window
        try:
            await admission.admit_start(key)
        except ChatError as error:
            refusals.append(error.code)
        await admission.block_client(key)
        try:
            await admission.check_not_blocked(key)
        except ChatError as error:
            refusals.append(error.code)
        other = await clientkey.compute_client_key("203.0.113.99")
        await admission.admit_socket(other)
        await admission.admit_start(other)
        redis = clientkey.get_redis()
        ttls = [await redis.ttl(name) async for name in redis.scan_iter("adm-test-*")]
        return key, refusals, ttls

    key_a = asyncio.run(process_a())
    cold_caches()
    key_b, refusals, ttls = asyncio.run(process_b())
    assert key_a.current == key_b.current
    assert ADDRESS not in key_a.current
    # Socket over the limit, then the third start, then the block.
    assert refusals == ["too_many_connections", "busy", "blocked"]
    assert ttls and all(0 < ttl <= 2 * 360 * 60 + 60 for ttl in ttls), ttls


@pytest.mark.integration
def test_a_burst_of_sockets_is_counted_exactly(on_redis, settings, caplog):
    """300 sockets at once: every one counted, none admitted uncounted.

    The burst is far above the connections the Redis client may open at
    once, so commands must wait for one instead of failing (which admits
    the socket without counting it: a flood would bypass the limits).
    """
    settings.ADMISSION_SOCKETS_PER_CLIENT = 250
    burst = 300

    async def one_socket():
        key = await clientkey.compute_client_key(ADDRESS)
        try:
            await admission.admit_socket(key)
        except ChatError as error:
            return key, error.code
        return key, None

    async def flood():
        results = await asyncio.gather(*(one_socket() for _ in range(burst)))
        key = await clientkey.compute_client_key(ADDRESS)
        counted = await admission.counters().get(admission._name("sock", key.current))
        return results, counted

    with caplog.at_level(logging.WARNING, logger="chat.admission"):
        results, counted = asyncio.run(flood())
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len({key.current for key, _code in results}) == 1  # one shared key
    refusals = [code for _key, code in results if code is not None]
    assert refusals == ["too_many_connections"] * (burst - 250)
    assert counted == 250
