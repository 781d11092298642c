"""A token whose role changes while its sockets are open: they close with 4409, by the process's watch or
before the next frame, and the client reconnects under the new role's rules. Before, a socket kept what it
was allowed at connect: a supervisor made an agent kept `all` (every customer's events) and could subscribe
to it again, an agent made a supervisor kept answering callback offers.

The change is only an UPDATE of the row here, as when the admin or another process makes it."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from channels_app.revocation import token_watch
from interactions.access.models import ApiToken
from interactions.models import Role
from tests.channels_app.test_consumer import frame, make_token, opened, subscribe
from tests.channels_app.test_revocation import close_message

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@database_sync_to_async
def change_in_the_database_only(token: ApiToken, **fields) -> None:
    ApiToken.objects.filter(pk=token.pk).update(**fields)


async def test_a_supervisor_made_an_agent_loses_all_at_once_and_may_not_subscribe_to_it_again(settings):
    settings.THREADLINE_TOKEN_CHECK_SECONDS = 0.05
    demoted, colleague = await make_token(Role.SUPERVISOR), await make_token(Role.SUPERVISOR)
    ws, other = await opened(demoted), await opened(colleague)
    for socket in (ws, other):
        await subscribe(socket, ["all"])

    await change_in_the_database_only(demoted, role=Role.AGENT)

    closed = await close_message(ws)  # no frame sent: the watch closed it
    assert (closed["code"], closed["reason"]) == (4409, "the role has changed to agent: reconnect")
    again = await opened(demoted)
    await again.send_json_to({"op": "subscribe", "topics": ["all"], "after": None})
    refused = await frame(again)
    assert (refused["code"], refused["topic"]) == ("forbidden", "all")
    await other.send_json_to({"op": "ping"})
    assert await frame(other) == {"op": "pong"}  # the colleague is still a supervisor
    for socket in (again, other):
        await socket.disconnect()


async def test_a_changed_role_closes_the_socket_at_its_next_frame_before_the_frame_is_handled(settings):
    settings.THREADLINE_TOKEN_CHECK_SECONDS = 3600  # only the check before each frame can close it here
    token = await make_token(Role.SUPERVISOR)
    ws = await opened(token)
    await ws.send_json_to({"op": "ping"})
    assert await frame(ws) == {"op": "pong"}

    await change_in_the_database_only(token, role=Role.AGENT)
    await ws.send_json_to({"op": "subscribe", "topics": ["all"], "after": 0})

    closed = await close_message(ws)  # nothing replayed, no caught_up: the first thing is the close
    assert closed["code"] == 4409


async def test_an_agent_made_a_supervisor_reconnects_without_a_status(settings):
    settings.THREADLINE_TOKEN_CHECK_SECONDS = 0.05
    token = await make_token(Role.AGENT)
    ws = await opened(token)
    await subscribe(ws, ["agent:me"])

    await change_in_the_database_only(token, role=Role.SUPERVISOR)

    assert (await close_message(ws))["code"] == 4409
    again = await opened(token)
    await again.send_json_to({"op": "status", "value": "available"})
    assert (await frame(again))["code"] == "forbidden"  # only agents have a status
    await subscribe(again, ["all"])
    await again.disconnect()


async def test_skills_changed_or_a_role_set_to_what_it_was_keep_the_socket(settings):
    settings.THREADLINE_TOKEN_CHECK_SECONDS = 3600
    token = await make_token(Role.AGENT, skills=["billing"])
    ws = await opened(token)
    await subscribe(ws, ["agent:me"])

    await change_in_the_database_only(token, skills=["billing", "tech"], role=Role.AGENT)
    await token_watch().check()  # what each tick asks
    await ws.send_json_to({"op": "ping"})  # and before each frame

    assert await frame(ws) == {"op": "pong"}
    await ws.disconnect()
