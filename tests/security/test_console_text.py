"""Finding 6 (text) in Chromium: staff see hidden characters, isolated.

A visitor's message with a right-to-left override and a zero-width space
is shown in the console inside a <bdi>, with visible [U+202E] and
[U+200B] markers; the message the server stores and sends is unchanged.
Then the operator closes the conversation as abusive from the console's
button, and that visitor's next ``start`` is refused with the emergency
numbers.
"""

import uuid
from typing import Any

import pytest

from tests.browser.conftest import Server, free_port
from tests.browser.test_console_shift import Visitor, log_in, shot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(browser_env: dict[str, Any]) -> Any:
    """A Daphne of its own: the abuse block lives in its memory only, so
    the other browser tests (all from 127.0.0.1) are not refused."""
    port = free_port()
    env = {**browser_env["env"], "CSRF_TRUSTED_ORIGINS": f"http://127.0.0.1:{port}"}
    live = Server(env, port, browser_env["root"] / "daphne-abuse.log")
    live.start()
    yield live
    live.kill()


TRICK = "virement de 100\u202e0001\u202c euros\u200b ok"


def test_staff_see_hidden_characters_and_can_mark_abuse(
    context_factory: Any, server: Any, shift_accounts: dict[str, Any]
) -> None:
    visitor = Visitor(server.url)
    visitor.send({"type": "start", "place": "33000", "role": "witness"})
    conversation_id = visitor.receive("started")["conversation"]
    operator, watch = log_in(context_factory, server, "shift-op", name="text-01")
    operator.locator(
        f'button.queue-item[data-conversation="{conversation_id}"]'
    ).click()
    visitor.receive("joined", role="operator")
    visitor.send({"type": "message", "id": str(uuid.uuid4()), "text": TRICK})
    visitor.receive("ack")

    panel = operator.locator(f"#panel-{conversation_id}")
    line = panel.locator("li.from-visitor p.body bdi")
    line.wait_for()
    markers = line.locator(".hidden-char").all_inner_texts()
    assert markers == ["[U+202E]", "[U+202C]", "[U+200B]"], markers
    shown = line.inner_text()
    assert "\u202e" not in shown and "\u200b" not in shown
    assert "100[U+202E]0001[U+202C]" in shown.replace(" ", "")
    isolation = line.evaluate("node => getComputedStyle(node).unicodeBidi")
    assert isolation == "isolate"
    shot(operator, "text-02-markers")

    # Close as abusive from the console's own button and dialog.
    panel.get_by_role("button", name="Signaler un abus").click()
    dialog = operator.locator("#dlg-abusive")
    dialog.wait_for()
    shot(operator, "text-03-abusive-dialog")
    dialog.get_by_role("button", name="Clore comme abusive").click()
    assert visitor.receive("closed")["reason"] == "closed_by_operator"
    visitor.close()
    # Through the demo's loopback the client key is the same: refused.
    again = Visitor(server.url)
    again.send({"type": "start", "place": "33000", "role": "witness"})
    refused = again.receive("error")
    assert refused["code"] == "blocked"
    assert {item["number"] for item in refused["emergency"]} >= {"17", "112", "3919"}
    again.close()
    assert not watch.errors, watch.errors
