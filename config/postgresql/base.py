"""PostgreSQL with a health check per connection and second, not per call.

Django checks a persistent connection (``CONN_HEALTH_CHECKS``) at the start
of each request, and Channels counts each database call of a socket as a
request: a ``SELECT 1`` round trip before every message write, about a
twentieth of the server's time under load (issue 14). Here a connection
that was checked less than ``HEALTH_CHECK_INTERVAL`` seconds ago, and that
psycopg has not seen break since, is trusted without a round trip. A
connection that failed (``errors_occurred``) or is closed or broken is
checked at once, as in Django, and a dead one is replaced.
"""

import time

from django.db.backends.postgresql import base

HEALTH_CHECK_INTERVAL = 1.0


class DatabaseWrapper(base.DatabaseWrapper):
    checked_at = float("-inf")

    def close_if_health_check_failed(self) -> None:
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and not self.errors_occurred
            and not self.connection.closed
            and not self.connection.broken
            and time.monotonic() - self.checked_at < HEALTH_CHECK_INTERVAL
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()
        if self.connection is not None:
            self.checked_at = time.monotonic()

    def close(self) -> None:
        super().close()
        self.checked_at = float("-inf")
