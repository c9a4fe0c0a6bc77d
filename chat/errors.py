"""The refusal type every service raises; the caller turns it into a frame.

``Refusal`` is the project's one refusal: sockets send it as an ``error``
frame, views as an error response or a form error, staff login as its
message. Refusals used in more than one place are in ``chat.refusals``.
``ChatError`` is the same class under its first name, kept so that
existing imports and ``except ChatError`` clauses work unchanged.
"""

from typing import Any


class Refusal(Exception):
    """A refusal with a protocol error code and a human message.

    ``extra`` fields are added to the error frame (for example the
    ``choices`` of an ambiguous place). Messages never hold sealed data.
    """

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


ChatError = Refusal
