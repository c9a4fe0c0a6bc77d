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
# Flags read with the conversation for those readers (``assigned``):
# attribute -> factory of an ``Exists`` on the outer conversation. A reader
# finding its flag false on the conversation may skip its read. Its SQL is
# compiled once per process (console.selectors._compiled_flags): the
# subquery may hold constants, never a value of the moment.
conversation_flags: dict[str, Callable[[], Any]] = {}
# Extra keys of the supervisors' board: key -> reader(profile).
board_fields: dict[str, Callable[[Any], Any]] = {}
