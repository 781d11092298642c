"""Repeat contacts across threads, and callback success by attempt: hand-built histories whose figures are
worked out by hand below (README "Handling")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from interactions.callbacks import dispatch
from interactions.callbacks import services as callbacks
from interactions.models import Callback, CallbackState
from tests.interactions.analytics.test_surveys import ANN, BEN, CAL, measures
from tests.interactions.helpers import post
from tests.interactions.test_callbacks import online_agent

pytestmark = pytest.mark.django_db
HANDLING = "/api/v1/analytics/handling"


def z(day: int, hh_mm: str) -> str:
    return f"2026-11-{day:02d}T{hh_mm}:00Z"


@pytest.fixture
def comebacks(api, supervisor_api, monkeypatch):
    """Ann writes about billing on the 20th (resolved), and again about billing on the 22nd: a new thread,
    48 h after her last billing contact. Ben writes about billing on the 20th (resolved) and again 8 days
    later: past the 7 days. Cal calls about a delivery on the 20th (resolved) and texts about it on the 21st:
    24 h later. Ann's second message on the 22nd joins her new thread: no new thread, no repeat."""
    monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 11, 29, 23, 0, tzinfo=UTC))

    def resolve(thread: str) -> None:
        response = supervisor_api.post(f"/api/v1/threads/{thread}/resolve", {}, format="json")
        assert response.status_code == 201, response.content

    sms = lambda who, at, **data: post(  # noqa: E731
        api, subject=who, time=at, data={"channel": "sms", "text": "hello", **data}
    )
    resolve(sms(ANN, z(20, "09:00"), topic="billing")["thread_id"])
    again = sms(ANN, z(22, "09:00"), topic="billing")["thread_id"]
    assert sms(ANN, z(22, "09:05"))["thread_id"] == again
    resolve(sms(BEN, z(20, "10:00"), topic="billing")["thread_id"])
    sms(BEN, z(28, "11:00"), topic="billing")
    call = {"direction": "inbound", "conversation_ref": "cal-1", "topic": "delivery"}
    resolve(post(api, subject=CAL, type="call.started", time=z(20, "12:00"), data=call)["thread_id"])
    sms(CAL, z(21, "12:00"), topic="delivery")


WEEK = {"from": z(20, "00:00"), "to": z(30, "00:00")}


def test_repeat_contacts_by_hand(comebacks, supervisor_api):
    (total,) = measures(supervisor_api, path=HANDLING, **WEEK)["totals"]
    assert total["repeat_contacts"] == 2  # Ann (48 h) and Cal (24 h); Ben came back after 8 days

    hours = measures(supervisor_api, path=HANDLING, granularity="hour", **WEEK)["rows"]
    assert {r["bucket"]: r["repeat_contacts"] for r in hours if r["repeat_contacts"]} == {
        z(21, "12:00"): 1,  # Cal's text
        z(22, "09:00"): 1,  # Ann's new billing thread
    }
    by_channel = measures(supervisor_api, path=HANDLING, group_by="channel", **WEEK)["totals"]
    assert {t["group"]: t["repeat_contacts"] for t in by_channel} == {"sms": 2, "voice": 0}


def test_later_contacts_on_the_same_thread_are_no_repeat(api, supervisor_api, monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 11, 29, 23, 0, tzinfo=UTC))
    first = post(api, subject=ANN, time=z(20, "09:00"), data={"channel": "sms", "text": "a", "topic": "x"})
    # Within the window, the same open thread, on any channel: no new thread, so no repeat contact.
    post(api, subject=ANN, time=z(20, "10:00"), data={"channel": "chat", "text": "b", "topic": "x"})
    assert (
        post(api, subject=ANN, time=z(21, "10:00"), data={"channel": "sms", "text": "c"})["thread_id"]
        == (first["thread_id"])
    )
    post(api, subject=ANN, type="message.sent", time=z(21, "11:00"), data={"channel": "sms", "text": "ok"})

    (total,) = measures(supervisor_api, path=HANDLING, **WEEK)["totals"]
    assert (total["first_responses"], total["repeat_contacts"]) == (1, 0)


@pytest.fixture
def callback_calls(api):
    """Three callbacks, each called by one agent until it reached the customer: Ann's at the second
    attempt, Ben's at the first, Cal's at the third. Returns the agent."""
    agent = online_agent()

    def attempts(identifier: str, outcomes: list[str]) -> None:
        phone = identifier.removeprefix("tel:")
        response = api.post("/api/v1/callbacks", {"identifier": identifier, "phone": phone}, format="json")
        assert response.status_code == 201, response.content
        callback_id = response.json()["id"]
        now = timezone.now()
        for outcome in outcomes:
            dispatch.callbacks_dispatch(now=now)
            callbacks.callback_accept(callback_id=callback_id, actor=agent)
            row = callbacks.callback_outcome(callback_id=callback_id, actor=agent, outcome=outcome)
            now = row.due_at
        assert Callback.objects.get(pk=callback_id).state == CallbackState.COMPLETED

    attempts(ANN, ["no_answer", "completed"])
    attempts(BEN, ["completed"])
    attempts(CAL, ["busy", "failed", "completed"])
    return agent


def test_callback_success_by_attempt_by_hand(callback_calls, supervisor_api):
    agent = callback_calls
    now = timezone.now()
    span = {"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=2)).isoformat()}
    body = measures(supervisor_api, path=HANDLING, **span)
    # Attempt 1: Ann no answer, Ben completed, Cal busy: 1 of 3. Attempt 2: Ann completed, Cal failed: 1 of 2.
    # Attempt 3: Cal completed: 1 of 1.
    assert body["callback_attempts"] == [
        {"group": None, "attempt": 1, "calls": 3, "completed": 1, "no_answer": 1, "busy": 1, "failed": 0,
         "success_rate": 0.3333},
        {"group": None, "attempt": 2, "calls": 2, "completed": 1, "no_answer": 0, "busy": 0, "failed": 1,
         "success_rate": 0.5},
        {"group": None, "attempt": 3, "calls": 1, "completed": 1, "no_answer": 0, "busy": 0, "failed": 0,
         "success_rate": 1.0},
    ]  # fmt: skip
    by_agent = measures(supervisor_api, path=HANDLING, group_by="agent", **span)["callback_attempts"]
    assert {(a["group"], a["attempt"], a["calls"]) for a in by_agent} == {
        (str(agent.pk), 1, 3),
        (str(agent.pk), 2, 2),
        (str(agent.pk), 3, 1),
    }
    csv = supervisor_api.get(HANDLING, {**span, "format": "csv"}).content.decode().splitlines()
    assert sum(line.startswith("callback_attempt,") for line in csv) == 3
