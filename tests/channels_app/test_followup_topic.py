"""Supervisors hear of follow-ups on their socket: `followups` carries each new one and each breach."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from interactions.followups import breach
from interactions.models import Role
from tests.channels_app.test_consumer import frame, ingest, make_token, opened, subscribe
from tests.conftest import cloud_event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def _survey(event_id: str, score: int, subject: str = "tel:+15551234567") -> dict:
    return cloud_event(
        id=event_id,
        type="survey.answered",
        subject=subject,
        time=timezone.now().isoformat(),
        data={"channel": "sms", "metric": "csat", "score": score},
    )


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.ADMIN])
async def test_a_new_follow_up_and_its_breach_reach_a_supervisor_on_followups(role, settings):
    settings.THREADLINE_FOLLOWUP_SLA_SECONDS = 0.001
    ws = await opened(await make_token(role))
    await subscribe(ws, ["followups"])

    await ingest(_survey("good", 5), _survey("bad", 1, subject="tel:+15559876543"))
    message = await frame(ws)
    assert message["op"] == "event" and message["topic"] == "followups"
    assert message["event"]["type"] == "followup.opened"
    assert message["event"]["data"]["survey"]["id"] == "bad"
    assert message["event"]["thread_id"] == message["event"]["data"]["thread_id"]

    assert await database_sync_to_async(breach.followups_breach)() == 1
    breached = await frame(ws)
    assert breached["event"]["type"] == "followup.breached"
    assert breached["event"]["data"]["followup_id"] == message["event"]["data"]["followup_id"]
    assert breached["position"] > message["position"]
    await ws.disconnect()


async def test_a_resumed_supervisor_is_replayed_the_follow_ups_it_missed():
    await ingest(_survey("s-1", 2))
    ws = await opened(await make_token(Role.SUPERVISOR))
    await ws.send_json_to({"op": "subscribe", "topics": ["followups"], "after": 0})
    replayed = await frame(ws)
    assert replayed["event"]["type"] == "followup.opened" and replayed["topic"] == "followups"
    assert (await frame(ws))["op"] == "caught_up"
    await ws.disconnect()


async def test_an_agent_may_not_subscribe_to_the_follow_up_queue():
    ws = await opened(await make_token(Role.AGENT))
    await ws.send_json_to({"op": "subscribe", "topics": ["followups"], "after": None})
    refused = await frame(ws)
    assert (refused["op"], refused["code"], refused["topic"]) == ("error", "forbidden", "followups")
    await ws.disconnect()
