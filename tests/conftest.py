import pytest


@pytest.fixture(autouse=True)
def fresh_layer(settings):
    """Give each test its own in-memory channel layer."""
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    }
    from chat import events

    events._retry_outbox.clear()
    yield


@pytest.fixture
async def runtime_stopped():
    """Stop the per-process background task when a socket test ends."""
    yield
    from chat import runtime

    await runtime.stop()
