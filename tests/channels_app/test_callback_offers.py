"""Callback offers over the agent websocket: the offer arrives on agent:me with its context, and the agent
answers it (accept, decline, outcome) in frames, with error frames for what it may not do."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from interactions.agents import services as presence
from interactions.callbacks import dispatch
from interactions.callbacks import services as callbacks
from interactions.models import Callback, Role
from tests.channels_app.test_consumer import TIMEOUT, frame, make_token, opened, subscribe
from tests.conftest import client_for
from tests.interactions import helpers

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
    due = ack["callback"]["due_at"]  # written as the REST API writes times
    assert "T" in due and due.endswith("Z") and datetime.fromisoformat(due).tzinfo is not None, due
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
    await ws.send_json_to({"op": "accept", "callback_id": callback_id, "attempt": 1, "offer": 2})
    error = await next_op(ws, "error")  # an offer not made yet (a retry never lands on another)
    assert error["code"] == "conflict" and "offer 2 of attempt 1 is not its current offer" in error["detail"]
    assert await state_of(callback_id) == "offered"

    await ws.send_json_to(
        {"op": "decline", "callback_id": callback_id, "reason": "on a break", "attempt": 1, "offer": 1}
    )
    assert (await next_op(ws, "ack"))["callback"]["state"] == "scheduled"
    await ws.disconnect()
    await other_ws.disconnect()


def _get(client, path: str, **query) -> dict:
    response = client.get(path, query)
    assert response.status_code == 200, response.content
    return response.json()


def _plain_json(text: str):
    """Parse strictly: a NaN or Infinity (which Python's json would write) is not JSON."""

    def refuse(constant: str):
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


async def test_the_offer_context_reaches_the_agent_as_plain_json_equal_to_what_the_api_says(settings):
    settings.THREADLINE_CUSTOMER_CALLING_HOURS = "daily 00:00-24:00"  # whatever the hour in Paris now
    agent = await make_token(Role.AGENT)
    supervisor = await make_token(Role.SUPERVISOR)
    integration = await make_token(Role.INTEGRATION, source_prefix="/sms-gateway/")

    @database_sync_to_async
    def history_and_a_request() -> tuple[str, dict]:
        api = client_for(integration)
        now = timezone.now().isoformat()  # recent, so the callback continues this conversation
        helpers.post(api, time=now, subject="mailto:ann@example.com", data={"channel": "email", "text": "hi"})
        helpers.post(
            api,
            time=now,
            data={"channel": "sms", "text": "charged twice", "identifiers": ["mailto:ann@example.com"]},
        )
        helpers.post(
            api, time=now, type="customer.profile_updated", data={"name": "Ann", "timezone": "Europe/Paris"}
        )
        request = callbacks.RequestInput(identifier="tel:+15551234567", phone="+15551234567", reason="refund")
        row = callbacks.callback_request(actor=integration, request=request)
        # What the agent's desktop would read over REST just before the offer is made.
        desk = client_for(agent)
        return str(row.pk), {
            "callback": _get(desk, f"/api/v1/callbacks/{row.pk}"),
            "thread": _get(desk, f"/api/v1/threads/{row.thread_id}"),
            "context": _get(desk, "/api/v1/context", identifier="tel:+15551234567"),
        }

    ws = await opened(agent)
    await subscribe(ws, ["agent:me"])
    await go_available(agent)
    callback_id, rest = await history_and_a_request()
    await database_sync_to_async(dispatch.callbacks_dispatch)()

    while True:  # presence events on agent:me may come first
        offer = _plain_json(await ws.receive_from(timeout=TIMEOUT))
        if offer["op"] == "event" and offer["event"]["type"] == "callback.offered":
            break
    await ws.disconnect()
    logged = await database_sync_to_async(_get)(
        client_for(supervisor), "/api/v1/events", after=offer["position"] - 1, limit=1
    )
    context = offer["event"]["data"]["context"]
    thread = rest["thread"]

    # The socket sends the event exactly as the log holds it.
    assert logged["events"][0]["position"] == offer["position"]
    assert logged["events"][0]["event"]["data"] == offer["event"]["data"]
    assert offer["event"]["data"]["callback_id"] == callback_id
    # And its context is what the API says about the same things.
    callback = rest["callback"]
    assert context["callback_id"] == callback["id"]
    assert {k: context[k] for k in ("phone", "reason", "attempt", "window_end")} == {
        k: callback[k] for k in ("phone", "reason", "attempt", "window_end")
    }
    assert context["earlier_attempts"] == callback["outcomes"] == []
    assert context["customer"] == rest["context"]["customer"]
    assert context["thread"] == {k: v for k, v in thread.items() if k in context["thread"]}
    assert set(context["thread"]) == set(thread) - {"timeline", "timeline_count", "next_offset"}
    assert context["recent"] == thread["timeline"][-20:]
    # The customer's local time: the moment of the offer, in Paris.
    assert context["customer_timezone"] == "Europe/Paris"
    local = datetime.fromisoformat(context["customer_local_time"])
    offered_at = datetime.fromisoformat(offer["event"]["time"].replace("Z", "+00:00"))
    assert local == offered_at and local.utcoffset() == ZoneInfo("Europe/Paris").utcoffset(offered_at)


@database_sync_to_async
def accept_and_fall_overdue(agent, callback_id: str) -> None:
    callbacks.callback_accept(callback_id=callback_id, actor=agent)
    minutes = settings.THREADLINE_CALLBACK_OUTCOME_OVERDUE_MINUTES
    assert dispatch.callbacks_dispatch(now=timezone.now() + timedelta(minutes=minutes + 1)) == 1


async def test_an_overdue_outcome_reaches_a_supervisors_socket():
    agent = await make_token(Role.AGENT)
    agent_ws = await opened(agent)
    await go_available(agent)
    supervisor = await make_token(Role.SUPERVISOR)
    ws = await opened(supervisor)
    await subscribe(ws, ["all"])
    callback_id = await request_and_dispatch(await make_token(Role.INTEGRATION))

    await accept_and_fall_overdue(agent, callback_id)

    while True:  # the request, its offer and its acceptance come first
        message = await frame(ws)
        if message["op"] == "event" and message["event"]["type"] == "callback.outcome_overdue":
            break
    assert message["topic"] == "all"
    data = message["event"]["data"]
    assert data["callback_id"] == callback_id and data["agent_id"] == str(agent.pk)
    await ws.disconnect()
    await agent_ws.disconnect()
