"""Live topics come from the hub's placement, never from what an integration wrote in `data`."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from interactions.ingestion.pipeline import events_ingest
from interactions.models import Role
from tests.channels_app.test_consumer import frame, ingest, make_token, opened, subscribe
from tests.conftest import cloud_event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

VICTIM = "tel:+15550000001"
ATTACKER = "tel:+15550000002"


@database_sync_to_async
def ingest_as(token, *events):
    return [r.as_dict() for r in events_ingest(list(events), token=token)]


async def test_an_integration_naming_another_customer_in_data_does_not_reach_that_customers_sockets():
    victim = (await ingest(cloud_event(id="victim-1", subject=VICTIM)))[0]
    desk = await opened(await make_token(Role.SUPERVISOR))
    await subscribe(desk, [f"customer:{victim['customer_id']}", f"thread:{victim['thread_id']}"])
    integration = await make_token(Role.INTEGRATION, source_prefix="/sms-gateway/")
    names_the_victim = {
        "customer_id": victim["customer_id"],
        "survivor_id": victim["customer_id"],
        "merged_id": victim["customer_id"],
    }

    hostile = await ingest_as(
        integration,
        cloud_event(
            id="hostile-message",
            subject=ATTACKER,
            data={"channel": "sms", "text": "not yours", **names_the_victim},
        ),
        # Not a threaded type, so placement never looks at its data.thread_id: it is only the client's word.
        cloud_event(
            id="hostile-profile",
            type="customer.profile_updated",
            subject=ATTACKER,
            data={"name": "Mallory", "thread_id": victim["thread_id"], **names_the_victim},
        ),
    )
    sentinel = (await ingest(cloud_event(id="victim-2", subject=VICTIM)))[0]

    assert {h["customer_id"] for h in hostile} != {victim["customer_id"]}
    message = await frame(desk)  # the first frame after the hostile posts is the victim's own next event
    assert (message["op"], message["event"]["id"]) == ("event", "victim-2")
    assert message["position"] == sentinel["position"] > max(h["position"] for h in hostile)
    await desk.disconnect()


async def test_a_replay_skips_client_data_naming_another_customer_too():
    victim = (await ingest(cloud_event(id="victim-1", subject=VICTIM)))[0]
    integration = await make_token(Role.INTEGRATION, source_prefix="/sms-gateway/")
    await ingest_as(
        integration,
        cloud_event(
            id="hostile-profile",
            type="customer.profile_updated",
            subject=ATTACKER,
            data={"name": "Mallory", "customer_id": victim["customer_id"], "thread_id": victim["thread_id"]},
        ),
    )
    await ingest(cloud_event(id="victim-2", subject=VICTIM))
    desk = await opened(await make_token(Role.SUPERVISOR))

    await desk.send_json_to(
        {"op": "subscribe", "topics": [f"customer:{victim['customer_id']}"], "after": victim["position"]}
    )
    replayed = []
    while (message := await frame(desk))["op"] == "event":
        replayed.append(message["event"]["id"])

    assert message["op"] == "caught_up"
    assert replayed == ["victim-2"]
    await desk.disconnect()
