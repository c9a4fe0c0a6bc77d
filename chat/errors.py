"""The error a chat service raises; the consumer turns it into a frame."""

from typing import Any


class ChatError(Exception):
    """A refusal with a protocol error code and a human message.

    ``extra`` fields are added to the error frame (for example the
    ``choices`` of an ambiguous place). Messages never hold sealed data.
    """

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra
