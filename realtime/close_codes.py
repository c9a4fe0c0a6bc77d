"""The WebSocket close codes both endpoints send (docs/protocol.md).

Declared once, here: the visitor and staff consumers, the transport and
the console's access check name these constants rather than numbers, so
the table "Close codes" of the protocol document has one source.
"""

# Standard codes (RFC 6455 §7.4.1 and the IANA registry).
CLOSE_GOING_AWAY = 1001
CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011
# The process is stopping: reconnect now, to another one.
CLOSE_SERVICE_RESTART = 1012
# Too many sockets from one client: try again later.
CLOSE_TRY_AGAIN_LATER = 1013

# The application's own codes (4000-4999).
# Staff: not logged in, or the session lapsed.
CLOSE_NOT_LOGGED_IN = 4401
# Staff: logged in but not allowed (no staff profile, no second factor).
CLOSE_NOT_ALLOWED = 4403
# Visitor: ``resume`` with an unknown token.
CLOSE_NOT_FOUND = 4404
# Visitor: another socket took over this conversation (issue 11).
CLOSE_REPLACED = 4409
# Staff: the account's roles or services changed; reconnect for a fresh
# ``hello``. The same number as CLOSE_REPLACED, on the other endpoint.
CLOSE_ACCOUNT_CHANGED = 4409
# Both: kept flooding after ``rate_limited``.
CLOSE_FLOOD = 4429
