"""No card number sent in a websocket frame reaches the database, a log line or a Celery message.

The websocket half of tests/interactions/test_card_corpus.py: every number of the card corpus, in every
format, in every frame that carries a value the hub stores (tests/corpora/cards.py, WEBSOCKET), over a
token's socket and a signed-in person's; and no error frame repeats one.
"""

from __future__ import annotations

import json
import logging

import pytest
from channels.db import database_sync_to_async

from interactions.agents import services as presence
from interactions.models import Role
from tests.channels_app.test_consumer import TIMEOUT, frame, make_token, opened, subscribe
from tests.channels_app.test_socket_sessions import HOST, sign_in, socket
from tests.corpora import cards

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def _agent_socket(how: str):
    """An agent's open socket: with a bearer token, or with the session cookie of a person signed in."""
    if how == "token":
        agent = await make_token(Role.AGENT)
        return agent, await opened(agent)
    session, person = await sign_in("corpus-agent")
    ws = socket(session, f"http://{HOST}")
    connected, _ = await ws.connect(timeout=TIMEOUT)
    assert connected
    return person.principal, ws


@pytest.mark.parametrize("how", ["token", "session"])
@pytest.mark.parametrize("entry", list(cards.WEBSOCKET))
async def test_a_card_number_sent_in_a_frame_is_stored_masked_and_never_in_full(
    entry, how, caplog, enqueued, fast_passwords
):
    caplog.set_level(logging.DEBUG)
    agent, ws = await _agent_socket(how)
    await subscribe(ws, ["agent:me"])
    await database_sync_to_async(presence.agent_status_set)(agent=agent, status="available")
    socket = cards.Socket(ws, agent, await make_token(Role.INTEGRATION, source_prefix="/sms-gateway/"))

    for fmt, values in cards.rounds(entry):
        await cards.WEBSOCKET[entry](socket, fmt, values)
    await ws.disconnect()

    assert await database_sync_to_async(cards.database_leaks)() == []
    assert await database_sync_to_async(cards.masked_numbers)() == set(cards.CARDS)
    assert cards.log_leaks(caplog.records) == []
    for name, args, kwargs in enqueued:
        assert cards.numbers_in(json.dumps([name, args, kwargs])) == set()
        assert all(cards.is_uuid(arg) for arg in args), (name, args)  # ids only


# Frames whose error repeats what they were sent (a topic, a status): the frame, from one number.
ECHOED_FRAMES = {
    "subscribe customer:<number>": lambda v: {"op": "subscribe", "topics": [f"customer:{v}"]},
    "subscribe <number>": lambda v: {"op": "subscribe", "topics": [v]},
    "status <number>": lambda v: {"op": "status", "value": v},
}


@pytest.mark.parametrize("entry", list(ECHOED_FRAMES))
async def test_an_error_frame_never_repeats_a_card_number_it_was_sent(entry, caplog, enqueued):
    caplog.set_level(logging.DEBUG)
    ws = await opened(await make_token(Role.AGENT))

    for fmt, values in cards.formatted():
        for value in cards.one_of_each_length(values):
            await ws.send_json_to(ECHOED_FRAMES[entry](value))
            error = await frame(ws)
            assert error["op"] == "error" and error["code"] != "rate_limited", (fmt, error)
            assert cards.numbers_in(json.dumps(error)) == set(), (fmt, error)
    await ws.disconnect()

    assert await database_sync_to_async(cards.database_leaks)() == []
    assert cards.log_leaks(caplog.records) == []
