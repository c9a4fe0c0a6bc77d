"""Finding 2, generalised: no client frame ever crashes a socket.

Hypothesis drives both endpoints with arbitrary JSON and arbitrary text
(lone surrogates and NUL included). For every frame: never a 1011 close,
never a traceback in the log, and the socket still answers afterwards.
The budget is bounded so CI stays fast.
"""

import asyncio
import json
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.consumers import StaffConsoleConsumer
from tests.factories import make_operator, make_session_cookie
from tests.helpers import staff_communicator, visitor_communicator
from visitor.consumers import VisitorChatConsumer

pytestmark = [pytest.mark.django_db(transaction=True)]

BUDGET = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)

# Any code point, lone surrogates and NUL included.
nasty = st.sampled_from(["\ud800", "\udfff", "\x00", "\u202e", "\u200b", "\ufeff"])
# st.text() never yields surrogates, so strings are joined by hand.
any_text = st.lists(nasty | st.characters(categories=None), max_size=40).map("".join)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | any_text
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4)
    ),
    max_leaves=12,
)


FIELD_NAMES = [
    "id", "text", "conversation", "token", "place", "role", "service", "after",
    "last_seq", "request", "accept", "active", "outcome", "categories",
    "invitation", "summary", "enabled", "resource", "force", "partner", "phone",
    "times", "title", "urgent", "minor", "lang",
]  # fmt: skip


def frames_for(handlers: dict[str, str]) -> st.SearchStrategy[str]:
    """Frames with a known or arbitrary type and known or arbitrary fields."""
    typed = st.builds(
        lambda kind, fields, more: {**more, **fields, "type": kind},
        st.sampled_from(sorted(handlers)) | any_text,
        st.fixed_dictionaries(
            {}, optional={name: any_text | json_values for name in FIELD_NAMES}
        ),
        st.dictionaries(any_text, json_values, max_size=2),
    )
    as_json = (typed | json_values).map(lambda value: json.dumps(value))
    # A WebSocket text frame is valid UTF-8 (Daphne refuses others), so raw
    # text has no surrogate; JSON escapes ("\\ud800") carry them instead.
    return as_json | st.text(max_size=60)


class TracebackCatcher(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.bad: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.exc_text or record.stack_info:
            self.bad.append(record.getMessage())


async def fuzz_one(
    communicator, raw: str, *, closes_allowed: set[int], start: bool = False
) -> None:
    connected, _ = await communicator.connect()
    assert connected
    if communicator.scope["path"] == "/ws/console/":
        hello = await communicator.receive_json_from()
        assert hello["type"] == "hello"
    if start:
        await communicator.send_json_to(
            {"type": "start", "place": "33000", "role": "victim"}
        )
        started = await communicator.receive_json_from()
        assert started["type"] == "started", started
    await communicator.send_input({"type": "websocket.receive", "text": raw})
    closed_with = None
    while not await communicator.receive_nothing(timeout=0.05):
        output = await communicator.receive_output()
        if output["type"] == "websocket.close":
            closed_with = output.get("code")
            break
        # What Daphne does next: encode the frame as UTF-8.
        output.get("text", "").encode("utf-8")
    if closed_with is not None:
        assert closed_with in closes_allowed, (closed_with, raw)
        await communicator.wait()
        return
    # Still usable: a well-formed frame gets an answer.
    await communicator.send_json_to({"type": "sync", "after": -1})
    answer = await communicator.receive_json_from(timeout=3)
    assert answer["type"] == "error", answer
    assert answer["code"] in {"bad_request", "bad_state"}, answer
    await communicator.disconnect()


@pytest.fixture
def catcher():
    handler = TracebackCatcher()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


@BUDGET
@given(raw=frames_for(VisitorChatConsumer.handlers), start=st.booleans())
def test_visitor_endpoint_survives_any_frame(
    raw, start, catcher, bordeaux, national, settings
):
    # Every example may start a conversation; they all stay waiting.
    settings.QUEUE_CEILING_PER_SERVICE = 10_000

    async def run() -> None:
        # resume with a wrong token closes with 4404 by design.
        await fuzz_one(visitor_communicator(), raw, closes_allowed={4404}, start=start)

    asyncio.run(run())
    assert not catcher.bad, catcher.bad


@pytest.fixture
def staff_cookie(db):
    from tests.factories import make_service

    return make_session_cookie(make_operator(make_service("national")))


@BUDGET
@given(raw=frames_for(StaffConsoleConsumer.handlers))
def test_console_endpoint_survives_any_frame(raw, catcher, staff_cookie):
    async def run() -> None:
        await fuzz_one(staff_communicator(staff_cookie), raw, closes_allowed=set())

    asyncio.run(run())
    assert not catcher.bad, catcher.bad
