"""The demo's in-memory channel layer, with its expiry sweep rationed.

``channels.layers.InMemoryChannelLayer`` walks every channel and every
group membership on every ``receive`` to drop expired messages and
memberships, so a process's cost per message grows with its number of
sockets (bench/README.md "Findings": 70 % of a relay's CPU at N=1000).
Expiry is 60 s for messages and a day for memberships: sweeping once a
second instead of on every receive changes nothing a socket can notice.
"""

import time
from typing import Any

from channels.layers import InMemoryChannelLayer

SWEEP_INTERVAL_SECONDS = 1.0


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
