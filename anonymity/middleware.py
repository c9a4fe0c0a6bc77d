"""ASGI middleware that takes the client address out of every scope.

It runs first, before sessions, auth, Django or any logging. For a
WebSocket it keeps the visitor's address, source port and arrival time in
a ``PendingSeal`` (sealed to the month's public key when the visitor
starts or resumes a conversation); for every scope it removes
``client`` and the forwarding headers, so nothing downstream (Django's
``REMOTE_ADDR``, error reports, a stray log of the scope) can see them
(docs/security.md §B1, §B7). In its place it leaves ``client_key``, a keyed
hash of the address under a rotating in-memory key (anonymity.clientkey).
"""

from typing import Any

from django.utils import timezone

from anonymity.clientkey import compute_client_key
from anonymity.sealing import PendingSeal, is_trusted_proxy, parse_client_address

STRIPPED_HEADERS = frozenset(
    {
        b"x-forwarded-for",
        b"x-forwarded-port",
        b"x-real-ip",
        b"x-client-port",
        b"forwarded",
        b"true-client-ip",
        b"cf-connecting-ip",
    }
)


class SealClientAddressMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        raw_headers = scope.get("headers", [])
        client = scope.get("client")
        peer, peer_port = (client[0], client[1]) if client else (None, None)
        ip, port = parse_client_address(
            peer, {name.lower(): value for name, value in raw_headers}
        )
        if ip is not None and ip == peer:
            port = peer_port
        scope = dict(scope)
        scope["client"] = None
        # The server's own header pairs, minus the forwarding ones: no copy
        # of each pair, which a socket's scope keeps for as long as it is
        # open. ASGI servers give names in lower case already.
        scope["headers"] = [
            pair for pair in raw_headers if pair[0].lower() not in STRIPPED_HEADERS
        ]
        if scope["type"] == "websocket":
            scope["connection_seal"] = PendingSeal(ip, port, timezone.now())
        # The only thing admission control and the login lockout may know
        # of the address: a keyed hash under a rotating key (issue 11).
        # A trusted proxy's own address (it sent no forwarding header) is
        # everyone's: no key then, rather than one key for all visitors.
        scope["client_key"] = (
            None if ip is None or is_trusted_proxy(ip) else await compute_client_key(ip)
        )
        return await self.app(scope, receive, send)
