"""Callback offers over the agent websocket: the offer arrives on agent:me with its context, and the agent
answers it (accept, decline, outcome) in frames, with error frames for what it may not do."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from interactions.agents import services as presence
from interactions.callbacks import dispatch
from interactions.callbacks import services as callbacks
from interactions.models import Callback, Role
from tests.channels_app.test_consumer import frame, make_token, opened, subscribe

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@database_sync_to_async
def go_available(agent) -> None:
    presence.agent_status_set(agent=agent, status="available")


@database_sync_to_async
def request_and_dispatch(actor, number: str = "+15551234567") -> str:
    request = callbacks.RequestInput(identifier=f"tel:{number}", phone=number, reason="refund")
    row = callbacks.callback_request(actor=actor, request=request)
    dispatch.callbacks_dispatch()
    return str(row.pk)


@database_sync_to_async
def state_of(callback_id: str) -> str:
    return Callback.objects.get(pk=callback_id).state


async def next_op(ws, op: str) -> dict:
    """The next frame with this op (presence and other events on agent:me may come first)."""
    while True:
        message = await frame(ws)
        if message["op"] == op and (op != "event" or message["event"]["type"] == "callback.offered"):
            return message


async def test_the_offer_reaches_agent_me_with_context_and_is_answered_over_the_socket():
    agent = await make_token(Role.AGENT)
    ws = await opened(agent)  # opening the socket registers it as live
    await subscribe(ws, ["agent:me"])
    await go_available(agent)
    integration = await make_token(Role.INTEGRATION)
    callback_id = await request_and_dispatch(integration)

    offer = await next_op(ws, "event")
    assert offer["topic"] == f"agent:{agent.pk}"
    data = offer["event"]["data"]
    assert data["callback_id"] == callback_id and data["context"]["reason"] == "refund"
    assert data["context"]["phone"] == "+15551234567" and data["context"]["customer"]["identifiers"]

    await ws.send_json_to({"op": "accept", "callback_id": callback_id})
    ack = await next_op(ws, "ack")
    assert ack["of"] == "accept" and ack["callback"]["state"] == "accepted"
    await ws.send_json_to(
        {"op": "outcome", "callback_id": callback_id, "outcome": "completed", "note": "done"}
    )
    ack = await next_op(ws, "ack")
    assert ack["callback"]["state"] == "completed" and await state_of(callback_id) == "completed"
    await ws.disconnect()


async def test_bad_answers_get_error_frames_and_change_nothing():
    agent = await make_token(Role.AGENT)
    other = await make_token(Role.AGENT)
    ws = await opened(agent)
    other_ws = await opened(other)
    await go_available(agent)
    integration = await make_token(Role.INTEGRATION)
    callback_id = await request_and_dispatch(integration)

    await ws.send_json_to({"op": "accept"})
    assert (await next_op(ws, "error"))["code"] == "bad_frame"
    await ws.send_json_to({"op": "accept", "callback_id": "00000000-0000-0000-0000-000000000001"})
    assert (await next_op(ws, "error"))["code"] == "not_found"
    await ws.send_json_to({"op": "outcome", "callback_id": callback_id, "outcome": "sideways"})
    assert (await next_op(ws, "error"))["code"] == "bad_frame"
    await ws.send_json_to({"op": "outcome", "callback_id": callback_id, "outcome": "completed"})
    assert (await next_op(ws, "error"))["code"] == "conflict"  # offered, not accepted yet
    await other_ws.send_json_to({"op": "accept", "callback_id": callback_id})
    assert (await next_op(other_ws, "error"))["code"] == "forbidden"  # offered to someone else
    assert await state_of(callback_id) == "offered"

    await ws.send_json_to({"op": "decline", "callback_id": callback_id, "reason": "on a break"})
    assert (await next_op(ws, "ack"))["callback"]["state"] == "scheduled"
    await ws.disconnect()
    await other_ws.disconnect()
