"""``/healthz`` and ``/readyz`` for load balancers and service managers.

They are answered by the first middleware, before host validation, the
HTTPS redirect, sessions or anything that logs: a probe from the proxy or
from systemd on ``127.0.0.1:PORT`` gets an answer whatever its ``Host``
header, and leaves no trace. ``/healthz`` says the process answers;
``/readyz`` also asks the database and the channel layer (503 otherwise).
"""

import logging
from collections.abc import Callable

import redis

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 2.0
_redis_clients: dict[str, redis.Redis] = {}


def database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception as error:  # noqa: BLE001 - any failure means "not ready"
        # The class only: driver messages may name hosts.
        logger.warning("readyz: database unavailable (%s)", type(error).__name__)
        return False


def channel_layer_answers() -> bool:
    """Ping each Redis host of the channel layer; in memory is always up."""
    config = settings.CHANNEL_LAYERS["default"].get("CONFIG", {})
    for host in config.get("hosts", []):
        url = host if isinstance(host, str) else host.get("address", "")
        client = _redis_clients.get(url)
        if client is None:
            client = redis.Redis.from_url(
                url,
                socket_timeout=PROBE_TIMEOUT_SECONDS,
                socket_connect_timeout=PROBE_TIMEOUT_SECONDS,
            )
            _redis_clients[url] = client
        try:
            if not client.ping():
                return False
        except Exception as error:  # noqa: BLE001
            logger.warning(
                "readyz: channel layer unavailable (%s)", type(error).__name__
            )
            return False
    return True


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def healthz() -> HttpResponse:
    return _no_store(JsonResponse({"status": "ok"}))


def readyz() -> HttpResponse:
    checks = {"database": database_answers(), "channel_layer": channel_layer_answers()}
    ready = all(checks.values())
    body = {"status": "ok" if ready else "unavailable", **checks}
    return _no_store(JsonResponse(body, status=200 if ready else 503))


PROBES: dict[str, Callable[[], HttpResponse]] = {
    "/healthz": healthz,
    "/readyz": readyz,
}


class HealthCheckMiddleware:
    """Answer the probes before any other middleware sees the request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBES.get(request.path_info)
        if probe is not None and request.method in ("GET", "HEAD"):
            return probe()
        return self.get_response(request)
