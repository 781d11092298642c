"""Live delivery goes on past a log row no reader can decode: the tailer reports it and every socket keeps
receiving, and a socket replaying across it is neither stopped nor closed."""

from __future__ import annotations

import logging

import pytest
from channels.db import database_sync_to_async

from interactions.models import Role
from tests.channels_app.test_consumer import frame, ingest, make_token, opened, subscribe
from tests.conftest import cloud_event
from tests.hub.test_unreadable_rows import plant

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_the_tailer_reports_an_unreadable_row_and_every_socket_keeps_receiving(caplog):
    first = (await ingest(cloud_event(id="u1")))[0]
    live = await opened(await make_token(Role.SUPERVISOR))
    await subscribe(live, ["all"])
    customer = await opened(await make_token())
    await subscribe(customer, [f"customer:{first['customer_id']}"])

    with caplog.at_level(logging.ERROR):
        bad = await database_sync_to_async(plant)("a time after 9999")
        after = (await ingest(cloud_event(id="u2", data={"channel": "sms", "text": "after"})))[0]
        received = await frame(live)
        while received["position"] < after["position"]:
            received = await frame(live)
        assert received["op"] == "event" and received["event"]["id"] == "u2"
        assert (await frame(customer))["event"]["id"] == "u2"

    assert any(f"position {bad} cannot be read" in r.getMessage() for r in caplog.records)
    assert any(r.name == "hub.tail" for r in caplog.records)

    # A socket that resumes from before the bad row replays across it, and is told it caught up.
    replaying = await opened(await make_token(Role.SUPERVISOR))
    await replaying.send_json_to({"op": "subscribe", "topics": ["all"], "after": 0})
    frames = [await frame(replaying)]
    while frames[-1]["op"] != "caught_up":
        frames.append(await frame(replaying))
    positions = [f["position"] for f in frames[:-1]]
    assert bad not in positions and after["position"] in positions
    assert positions == sorted(positions)
    for ws in (live, customer, replaying):
        await ws.disconnect()
