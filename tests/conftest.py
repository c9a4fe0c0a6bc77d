import pytest


@pytest.fixture(autouse=True)
def fresh_layer(settings):
    """Give each test its own in-memory channel layer."""
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    }
    from realtime import events

    events._retry_outbox.clear()
    from chat import admission

    admission.memory_counters.clear()
    yield


@pytest.fixture
async def runtime_stopped():
    """Stop the per-process background task when a socket test ends."""
    yield
    from realtime import runtime

    await runtime.stop()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Say loudly when a run skipped anything: it then proved less."""
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    terminalreporter.write_sep(
        "!",
        f"WARNING: {len(skipped)} TEST(S) SKIPPED - this run did not prove everything",
        red=True,
        bold=True,
    )
    for report in skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
        terminalreporter.write_line(f"  SKIPPED {report.nodeid}: {reason}", red=True)
