"""The staff side of a browser test, spoken through the protocol."""

import json
import time
import uuid
from typing import Any

from websockets.sync.client import ClientConnection, connect


class Operator:
    """A staff socket on ``/ws/console/``, logged in by session cookie."""

    def __init__(self, base_url: str, cookie: str) -> None:
        self.base_url = base_url
        self.cookie = cookie
        self.ws: ClientConnection | None = None
        self.hello: dict[str, Any] = {}
        self.connect()

    def connect(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.ws = connect(
                    self.base_url.replace("http://", "ws://") + "/ws/console/",
                    origin=self.base_url,
                    additional_headers={"Cookie": self.cookie},
                    proxy=None,
                    open_timeout=5,
                    legacy=True,
                )
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.hello = self.receive("hello")

    def send(self, frame: dict[str, Any]) -> None:
        assert self.ws is not None
        self.ws.send(json.dumps(frame))

    def say(self, conversation: str, text: str) -> dict[str, Any]:
        """Send a message and return its ack."""
        client_id = str(uuid.uuid4())
        self.send(
            {
                "type": "message",
                "conversation": conversation,
                "id": client_id,
                "text": text,
            }
        )
        return self.receive("ack", id=client_id)

    def receive(
        self, frame_type: str, timeout: float = 10, **match: Any
    ) -> dict[str, Any]:
        """Return the next frame of ``frame_type`` (and fields), skip others."""
        assert self.ws is not None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"no {frame_type!r} frame {match} within {timeout}s"
                )
            try:
                frame = json.loads(self.ws.recv(timeout=remaining))
            except TimeoutError:
                continue
            if frame.get("type") == frame_type and all(
                frame.get(key) == value for key, value in match.items()
            ):
                return frame

    def close(self) -> None:
        if self.ws is not None:
            try:
                self.ws.close()
            except Exception:  # noqa: BLE001 - a dead server is fine here
                pass
            self.ws = None
