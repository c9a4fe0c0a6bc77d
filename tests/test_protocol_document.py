"""docs/protocol.md and the consumers name the same frames (issue 13).

Every client → server frame documented in an endpoint's table has a
handler in that endpoint's consumer, and every handler is documented
there. In the other direction, every frame type a consumer writes out
literally appears in its endpoint's server → client table (frames built
by selectors, such as ``hello`` or ``board``, are checked by their own
tests).
"""

import inspect
import re
from pathlib import Path

import pytest

from chat import socket
from console.consumers import StaffConsoleConsumer
from realtime import close_codes
from visitor.consumers import VisitorChatConsumer

PROTOCOL = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"
# ``"type":"joined\|left"``: a table cell may name alternatives.
DOCUMENTED_TYPE = re.compile(r'"type":"([a-z_\\|]+)"')
# ``| `ack`, `message`, `typing` |``: a cell naming frames alone.
BARE_NAME = re.compile(r"`([a-z_]+)`")
SENT_TYPE = re.compile(r'"type": "([a-z_]+)"')


def section_rows(heading: str) -> list[str]:
    """Return the first cell of each table row under ``heading``."""
    lines = PROTOCOL.read_text(encoding="utf-8").splitlines()
    start = lines.index(heading) + 1
    cells = []
    for line in lines[start:]:
        if line.startswith("#"):
            break
        if line.startswith("|") and not line.startswith("|---"):
            # Split on cell borders, not on the ``\|`` of alternatives.
            cells.append(re.split(r"(?<!\\)\|", line)[1].strip())
    assert cells, f"no table under {heading!r}"
    return cells[1:]  # the header row


def documented_types(heading: str, *, bare: bool = False) -> set[str]:
    names: set[str] = set()
    for cell in section_rows(heading):
        for match in DOCUMENTED_TYPE.findall(cell):
            names.update(match.split("\\|"))
        if bare and not DOCUMENTED_TYPE.search(cell):
            names.update(BARE_NAME.findall(cell))
    return names


def sent_types(*modules: object) -> set[str]:
    return {
        name
        for module in modules
        for name in SENT_TYPE.findall(inspect.getsource(module))
    }


ENDPOINTS = [
    pytest.param(VisitorChatConsumer, "Visitor", id="visitor"),
    pytest.param(StaffConsoleConsumer, "Staff", id="staff"),
]


@pytest.mark.parametrize(("consumer", "endpoint"), ENDPOINTS)
def test_every_documented_client_frame_has_a_handler_and_back(consumer, endpoint):
    documented = documented_types(f"### {endpoint}: client → server")
    assert documented == set(consumer.handlers)
    for name in consumer.handlers.values():
        assert inspect.iscoroutinefunction(getattr(consumer, name)), name


@pytest.mark.parametrize(("consumer", "endpoint"), ENDPOINTS)
def test_every_frame_a_consumer_writes_is_documented(consumer, endpoint):
    documented = documented_types(f"### {endpoint}: server → client", bare=True)
    written = sent_types(inspect.getmodule(consumer), socket)
    assert written - documented == set()


def test_every_application_close_code_is_documented():
    """The close codes are declared once, and the document lists them all."""
    text = PROTOCOL.read_text(encoding="utf-8")
    documented = {int(code) for code in re.findall(r"^\| (4\d\d\d) \|", text, re.M)}
    declared = {
        value
        for name, value in vars(close_codes).items()
        if name.startswith("CLOSE_") and 4000 <= value < 5000
    }
    assert declared == documented
