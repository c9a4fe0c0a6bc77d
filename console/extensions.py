"""Where the apps above console add fields to its frames.

Console sits below escalation in the layers (docs/architecture.md), so it
cannot import it; escalation registers its readers here from
``AppConfig.ready()`` instead, and they run exactly where a direct call
would have.
"""

from collections.abc import Callable
from typing import Any

# Extra keys of a conversation frame for staff (``assigned``, ``sync``):
# key -> reader(conversation).
conversation_fields: dict[str, Callable[[Any], Any]] = {}
# Extra keys of the supervisors' board: key -> reader(profile).
board_fields: dict[str, Callable[[Any], Any]] = {}
