"""Every hostile websocket frame of the corpus (tests/corpora/hostile.py) gets an error frame naming the
field, the socket stays open, and nothing is written."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from tests.channels_app.test_consumer import frame, make_token, opened
from tests.conftest import store_snapshot
from tests.corpora.hostile import FRAME_CASES, FrameCase

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.mark.parametrize("case", FRAME_CASES, ids=[c.name for c in FRAME_CASES])
async def test_a_hostile_frame_gets_an_error_frame_naming_the_field_and_changes_nothing(case: FrameCase):
    ws = await opened(await make_token())
    before = await database_sync_to_async(store_snapshot)()

    await ws.send_to(text_data=case.frame)
    error = await frame(ws)
    await ws.send_json_to({"op": "ping"})

    assert error["op"] == "error" and error["code"] == case.code, error
    assert error["detail"].startswith(case.field), error
    assert await frame(ws) == {"op": "pong"}
    assert await database_sync_to_async(store_snapshot)() == before
    await ws.disconnect()
