"""Clean transport under Daphne: 1012 on SIGTERM, 1009 for huge frames.

Daphne stops on SIGTERM by cancelling every application and dropping the
TCP connections: clients see 1006 (abnormal closure) and back off, though
they should reconnect at once to another process. And a frame over
Daphne's limit makes autobahn drop the connection (``failByDrop``) with no
close frame. This module fixes both (issue 11):

- ``install()``, called from ``config.asgi`` (Daphne imports the
  application before it builds its server), makes autobahn close with a
  real 1009 frame and caps a message at ``CHAT_TRANSPORT_MAX_BYTES``
  (frames between ``CHAT_MAX_FRAME_BYTES`` and that cap still get the
  protocol's ``too_large`` error on an open socket), and lets the
  application close with the standard codes 1012 and 1013, which
  autobahn's ``sendClose`` refuses;
- the first socket of the process installs a SIGTERM handler (Twisted
  installs its own when the reactor starts, after the import, so it must
  come later). On SIGTERM the process refuses new sockets (accepted, then
  closed with 1012 at once), closes every open socket with 1012 (service
  restart: reconnect now), waits a moment for the close frames to go out,
  then hands over to Twisted's own handler, which stops the reactor.
"""

import asyncio
import logging
import os
import signal
import sys
import threading
import weakref
from typing import Any

from django.conf import settings

from realtime import heap
from realtime.close_codes import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_SERVICE_RESTART,
    CLOSE_TRY_AGAIN_LATER,
)

logger = logging.getLogger(__name__)

DRAIN_SECONDS = 1.0

_sockets: "weakref.WeakSet[Any]" = weakref.WeakSet()
_state = {"draining": False, "installed": False}


# Standard close codes a server may send (RFC 6455 §7.4 and the IANA
# registry) that autobahn's ``sendClose`` refuses (it allows only 1000 and
# 3000-4999): going away, message too big, internal error, service
# restart, try again later.
SERVER_CLOSE_CODES = frozenset(
    {
        CLOSE_GOING_AWAY,
        CLOSE_MESSAGE_TOO_BIG,
        CLOSE_INTERNAL_ERROR,
        CLOSE_SERVICE_RESTART,
        CLOSE_TRY_AGAIN_LATER,
    }
)


def install() -> None:
    """Make Daphne close oversized frames with 1009 and send 1012/1013."""
    try:
        from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
    except ImportError:  # pragma: no cover - Daphne is a dependency
        return
    if getattr(WebSocketFactory, "_ecoute_hardened", False):
        return
    original = WebSocketFactory.setProtocolOptions
    original_close = WebSocketProtocol.serverClose

    def server_close(self: Any, code: int | None = None) -> None:
        if code in SERVER_CLOSE_CODES and self.state == self.STATE_OPEN:
            self.sendCloseFrame(code=code, isReply=False)
            return
        original_close(self, code)

    WebSocketProtocol.serverClose = server_close

    def set_protocol_options(self: Any, **options: Any) -> None:
        options["failByDrop"] = False
        options["maxMessagePayloadSize"] = settings.CHAT_TRANSPORT_MAX_BYTES
        options["maxFramePayloadSize"] = settings.CHAT_TRANSPORT_MAX_BYTES
        original(self, **options)

    WebSocketFactory.setProtocolOptions = set_protocol_options
    WebSocketFactory._ecoute_hardened = True


def is_draining() -> bool:
    return _state["draining"]


def track(socket: Any) -> None:
    """Remember an open socket; at the first, install the SIGTERM handler.

    The first socket under Daphne also freezes the start-up heap
    (``realtime.heap``): the server is built, nothing of it is garbage.
    """
    _sockets.add(socket)
    if not _state["installed"]:
        if _under_daphne():
            heap.settle()
        _install_signal_handler()


def _under_daphne() -> bool:
    """True inside a running Daphne (its Twisted reactor runs this loop)."""
    reactor = sys.modules.get("twisted.internet.reactor")
    return reactor is not None and getattr(reactor, "running", False)


def _install_signal_handler() -> None:
    _state["installed"] = True
    if threading.current_thread() is not threading.main_thread():
        return  # Daphne runs its loop in the main thread
    if not _under_daphne():
        return  # tests and other servers keep their own SIGTERM handling
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: Any) -> None:
        loop.call_soon_threadsafe(
            lambda: asyncio.ensure_future(drain_then(previous, signum, frame))
        )

    signal.signal(signal.SIGTERM, on_sigterm)


async def close_all(code: int = CLOSE_SERVICE_RESTART) -> int:
    """Refuse new sockets and close every open one with ``code``."""
    _state["draining"] = True
    sockets = list(_sockets)
    for socket in sockets:
        try:
            await socket.close(code=code)
        except Exception as error:  # noqa: BLE001 - close the others anyway
            logger.warning("could not close a socket: %r", error)
    return len(sockets)


async def drain_then(previous: Any, signum: int, frame: Any) -> None:
    closed = await close_all()
    logger.warning("SIGTERM: closed %d sockets with 1012, stopping", closed)
    await asyncio.sleep(DRAIN_SECONDS if closed else 0)
    # Twisted's own handler (or the default one) takes it from here.
    signal.signal(signal.SIGTERM, previous)
    os.kill(os.getpid(), signal.SIGTERM)
