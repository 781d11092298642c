"""What one socket, and one principal's sockets, may ask of a server process (channels_app/limits.py).

The clock of the frame budget is a test's own, so that what is measured is the rule, not the machine's speed.
"""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from channels_app import limits
from interactions.models import Role
from tests.channels_app.test_consumer import closed_with, frame, make_token, opened
from tests.conftest import store_snapshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(limits, "monotonic", clock)
    return clock


async def answering(token):
    """A socket that has answered a ping: its `connect` (and so its count) is done, not merely accepted."""
    ws = await opened(token)
    await ws.send_json_to({"op": "ping"})
    assert await frame(ws) == {"op": "pong"}
    return ws


async def test_a_frame_past_the_budget_is_refused_unhandled_and_the_budget_refills(settings, clock):
    settings.THREADLINE_WS_FRAMES_PER_SECOND = 1
    settings.THREADLINE_WS_FRAME_BURST = 3
    ws = await opened(await make_token())
    for _ in range(3):
        await ws.send_json_to({"op": "ping"})
        assert await frame(ws) == {"op": "pong"}
    before = await database_sync_to_async(store_snapshot)()

    await ws.send_json_to({"op": "status", "value": "available"})  # would append agent.status_changed
    refused = await frame(ws)

    assert refused["op"] == "error" and refused["code"] == "rate_limited", refused
    assert refused["detail"].startswith("at most 1 frames a second (3 at once)"), refused
    assert await database_sync_to_async(store_snapshot)() == before  # not handled: nothing written
    clock.now += 1.0  # one frame's worth of budget back
    await ws.send_json_to({"op": "ping"})
    assert await frame(ws) == {"op": "pong"}
    await ws.disconnect()


async def test_a_client_that_goes_on_past_its_refusals_is_closed_with_1008(settings, clock):
    settings.THREADLINE_WS_FRAMES_PER_SECOND = 1
    settings.THREADLINE_WS_FRAME_BURST = 2
    ws = await opened(await make_token())
    answers = []
    for _ in range(5):
        await ws.send_json_to({"op": "ping"})
    for _ in range(4):
        answers.append(await frame(ws))

    assert answers[:2] == [{"op": "pong"}, {"op": "pong"}]
    assert [a["code"] for a in answers[2:]] == ["rate_limited", "rate_limited"]
    assert await closed_with(ws) == 1008  # the third refusal in a row: no more answers, closed


async def test_a_principal_may_hold_at_most_the_configured_sockets_on_a_process(settings):
    settings.THREADLINE_WS_SOCKETS_PER_PRINCIPAL = 2
    token, other = await make_token(Role.SUPERVISOR), await make_token(Role.SUPERVISOR)
    first, second = await answering(token), await answering(token)

    third = await opened(token)
    assert await closed_with(third) == 4429
    others = await answering(other)  # another principal's count is its own

    await first.disconnect()
    again = await answering(token)  # a closed socket no longer counts
    for ws in (second, again, others):
        await ws.disconnect()
