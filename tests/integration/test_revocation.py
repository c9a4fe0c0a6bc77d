"""Revocation across processes (issue 11): within one second, everywhere.

The operator's console is on process B; the deactivation is committed by
another Django process sharing the database and Redis (as an administrator
would from the admin on process A). Within one second their socket closes
with 4401, and a ``claim`` sent in that second is refused.
"""

import asyncio
import time

import pytest

from tests.integration.processes import SeedWorker


@pytest.mark.integration
async def test_deactivation_reaches_the_other_process_within_a_second(
    servers, stack, rows, make_team, clients
):
    a, b = servers
    team = make_team(1)
    operator = team.operators[0]
    visitor = clients.visitor(a, label="visitor@A")
    await visitor.connect()
    started = await visitor.start(service=team.service)
    conversation = started["conversation"]
    staff = clients.staff(b, operator, reconnect=False)
    await staff.connect()

    # A Django process of its own, publishing on the shared Redis.
    admin = SeedWorker(stack.environment(), stack.log_dir)
    try:
        admin.call("deactivate", user_id=operator.user_id)
        deactivated_at = time.monotonic()
        claim_sent = await staff.send({"type": "claim", "conversation": conversation})
        while not staff.closes and time.monotonic() - deactivated_at < 1.0:
            await asyncio.sleep(0.01)
        closed_after = time.monotonic() - deactivated_at
    finally:
        admin.stop()

    assert staff.closes, "the console socket was still open after one second"
    assert staff.closes[0][0] == 4401, staff.closes
    assert closed_after < 1.0
    if claim_sent:
        assigned = [f for f in staff.frames("assigned")]
        assert not assigned, assigned
    assert rows.conversation(conversation)["status"] == "waiting"
    assert rows.conversation(conversation)["operator_id"] is None
