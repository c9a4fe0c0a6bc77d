"""Logging filters of the platform (addresses: see anonymity/logs.py)."""

import logging


class OneLineFilter(logging.Filter):
    """Drop the traceback: the message alone says what happened.

    For expected refusals such as a foreign ``Host`` header, which any
    scanner on the Internet sends, where a 30-line traceback per request
    would bury real errors.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True
