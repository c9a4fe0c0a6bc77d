"""ASGI entry point: HTTP through Django, WebSockets through Channels.

Every WebSocket passes the Origin check (explicit ``ALLOWED_HOSTS``, never
``*``) before anything else; staff sockets then the session and user
middleware, which visitor sockets skip.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import URLPattern, path  # noqa: E402

from anonymity.middleware import SealClientAddressMiddleware  # noqa: E402
from attachments.asgi import UploadLimitMiddleware  # noqa: E402
from console.routing import websocket_urlpatterns as console_ws  # noqa: E402
from realtime import transport  # noqa: E402
from visitor.routing import websocket_urlpatterns as chat_ws  # noqa: E402


def with_session(route: URLPattern) -> URLPattern:
    """Give one route the session cookie and the logged-in user.

    Only staff sockets need them. A visitor socket has no account: without
    them it reads no cookie, makes no user lookup (a database thread hop)
    when it opens, and keeps no session, cookie or user objects in its
    scope for as long as it stays open (docs/decisions.md).
    """
    return path(str(route.pattern), AuthMiddlewareStack(route.callback))


def build_websocket_app():  # an ASGI application
    """Return the WebSocket stack, address sealing first (tests use it)."""
    return SealClientAddressMiddleware(
        AllowedHostsOriginValidator(
            URLRouter(chat_ws + [with_session(route) for route in console_ws])
        )
    )


# Daphne builds its server after importing this module: close oversized
# frames with 1009 instead of dropping the connection (issue 11).
transport.install()

# The address is sealed and removed before anything else sees the scope.
application = ProtocolTypeRouter(
    {
        "http": SealClientAddressMiddleware(UploadLimitMiddleware(django_asgi_app)),
        "websocket": build_websocket_app(),
    }
)
