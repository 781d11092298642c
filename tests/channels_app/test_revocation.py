"""A revoked token loses its open sockets (4401 within seconds) and can neither subscribe nor replay.

Revocation is only a row in the database here, as it is when the admin, the command or another process
revokes: nothing tells this process's sockets but the database itself.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command

from channels_app import consumers
from interactions.access.models import ApiToken
from interactions.access.tokens import token_revoke
from interactions.models import Role
from tests.channels_app.test_consumer import (
    TIMEOUT,
    closed_with,
    frame,
    ingest,
    make_token,
    opened,
    subscribe,
)
from tests.conftest import cloud_event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@database_sync_to_async
def revoke(token) -> None:
    token_revoke(token)


@database_sync_to_async
def revoke_in_the_database_only(token) -> None:
    """As another process would: an UPDATE of the row, nothing else."""
    ApiToken.objects.filter(pk=token.pk).update(revoked_at="2026-11-23T10:00:00Z")


async def close_message(ws) -> dict:
    message = await ws.receive_output(timeout=TIMEOUT)
    while message["type"] != "websocket.close":
        assert message["type"] != "websocket.send" or '"op": "event"' not in message["text"], message
        message = await ws.receive_output(timeout=TIMEOUT)
    return message


async def test_revoking_a_token_closes_every_open_socket_of_it_with_4401_within_seconds():
    first = (await ingest(cloud_event(id="a")))[0]
    agent, colleague = await make_token(), await make_token()
    sockets = [await opened(agent), await opened(agent)]
    other = await opened(colleague)
    for ws in [*sockets, other]:
        await subscribe(ws, [f"customer:{first['customer_id']}"])

    started = time.monotonic()
    await revoke_in_the_database_only(agent)
    closes = [await close_message(ws) for ws in sockets]
    elapsed = time.monotonic() - started

    assert [(c["code"], c["reason"]) for c in closes] == [(4401, "the token has been revoked")] * 2
    assert elapsed < 5, elapsed
    # Another token's socket on the same topic stays open and keeps receiving.
    second = (await ingest(cloud_event(id="b")))[0]
    message = await frame(other)
    assert (message["op"], message["position"]) == ("event", second["position"])
    await other.disconnect()


async def test_a_revoked_token_cannot_subscribe_or_replay_even_before_the_periodic_check(settings):
    settings.THREADLINE_TOKEN_CHECK_SECONDS = 3600  # only the check before each frame can close it here
    first = (await ingest(cloud_event(id="a")))[0]
    agent = await make_token(Role.SUPERVISOR)
    ws = await opened(agent)

    await revoke(agent)
    topics = ["all", f"customer:{first['customer_id']}"]
    await ws.send_json_to({"op": "subscribe", "topics": topics, "after": 0})

    closed = await close_message(ws)  # nothing replayed, no caught_up: the first thing is the close
    assert (closed["code"], closed["reason"]) == (4401, "the token has been revoked")


async def test_a_token_revoked_during_a_replay_gets_nothing_more(settings, monkeypatch):
    settings.THREADLINE_TOKEN_CHECK_SECONDS = 0.05
    await ingest(*(cloud_event(id=f"e-{i}", subject=f"tel:+1555000{i:04d}") for i in range(10)))
    agent = await make_token(Role.SUPERVISOR)
    ws = await opened(agent)
    monkeypatch.setattr(consumers, "REPLAY_PAGE", 10)
    read_after, pages = consumers._read_after, []

    async def revoked_after_the_first_page(position):
        pages.append(position)
        if len(pages) == 2:
            await revoke_in_the_database_only(agent)
            await asyncio.sleep(0.5)  # the watch's next check comes meanwhile
        return await read_after(position)

    monkeypatch.setattr(consumers, "_read_after", revoked_after_the_first_page)
    await ws.send_json_to({"op": "subscribe", "topics": ["all"], "after": 0})
    frames = []
    message = await ws.receive_output(timeout=TIMEOUT)
    while message["type"] != "websocket.close":
        frames.append(message["text"])
        message = await ws.receive_output(timeout=TIMEOUT)

    assert message["code"] == 4401
    assert len(frames) == 10 and all('"op": "event"' in f for f in frames)  # the first page, then nothing


async def test_the_revoke_token_command_closes_the_tokens_socket():
    agent = await make_token()
    ws = await opened(agent)
    await ws.send_json_to({"op": "ping"})
    assert await frame(ws) == {"op": "pong"}

    await database_sync_to_async(call_command)("revoke_token", str(agent.pk))

    assert await closed_with(ws) == 4401


async def test_a_socket_opened_while_the_watch_asks_is_not_taken_for_revoked(monkeypatch, settings):
    """Its token was not in the query under way, so not among the live ones it answered: it was closed with
    4401 "the token has been revoked", and a desk sent its signed-in person to the sign-in page."""
    from channels_app import revocation

    settings.THREADLINE_TOKEN_CHECK_SECONDS = 3600  # only the check below runs
    first_token = await make_token()
    first = await answering(first_token)
    watch = revocation.token_watch()
    asked = revocation._locked_out
    late: list = []

    async def a_socket_opens_meanwhile(*args):
        answer = await asked(*args)
        late.append(await answering(await make_token()))  # watched now, and not in the answer
        return answer

    monkeypatch.setattr(revocation, "_locked_out", a_socket_opens_meanwhile)
    await watch.check()
    monkeypatch.setattr(revocation, "_locked_out", asked)

    assert watch.count(str(first_token.pk)) == 1
    for ws in (first, late[0]):
        await ws.send_json_to({"op": "ping"})
        assert await frame(ws) == {"op": "pong"}
        await ws.disconnect()


async def answering(token):
    """A socket of this token that has answered a ping: its consumer has connected (and is watched)."""
    ws = await opened(token)
    await ws.send_json_to({"op": "ping"})
    assert await frame(ws) == {"op": "pong"}
    return ws
