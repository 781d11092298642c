"""Callbacks through the REST API and the services: request, route, offer with context, answer, retry, end.

Time is passed to the dispatcher explicitly (`now=`), so offer time-outs and retries are tested without
waiting; everything else runs against the real database, and tasks run eagerly where a test says so.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from celery import beat
from django.db import connection, transaction
from django.utils import timezone

from config.celery import app as celery_app
from hub import log, subscriptions
from hub.models import StoredEvent
from interactions import jobs
from interactions.agents import services as presence
from interactions.callbacks import dispatch, schedule
from interactions.callbacks import services as callbacks
from interactions.idempotency import IdempotencyKeyReused
from interactions.models import Callback, CallbackState, Customer, Role
from interactions.topics.routing import event_topics
from tests.conftest import client_for, log_snapshot, requires_postgresql, requires_sqlite
from tests.factories import ApiTokenFactory
from tests.interactions import helpers

pytestmark = pytest.mark.django_db
CALLBACKS = "/api/v1/callbacks"
CUSTOMER = "tel:+15551234567"


def post(api, **overrides) -> dict:
    """Post an event happening now: a callback requested now follows the thread rules at the current time,
    so the conversation it continues must be recent too (a fixed date would fall out of the idle window)."""
    return helpers.post(api, time=timezone.now().isoformat(), **overrides)


def online_agent(*skills: str):
    """An agent with an open socket who said they are available."""
    agent = ApiTokenFactory(role=Role.AGENT, skills=list(skills))
    presence.agent_socket_open(agent=agent)
    presence.agent_status_set(agent=agent, status="available")
    return agent


def request_callback(api, **body) -> dict:
    response = api.post(CALLBACKS, {"identifier": CUSTOMER, "phone": "+15551234567", **body}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def offers(callback_id) -> list[StoredEvent]:
    return list(
        StoredEvent.objects.filter(stream=f"callback-{callback_id}", type="callback.offered").order_by(
            "position"
        )
    )


def stream_types(callback_id) -> list[str]:
    return list(
        StoredEvent.objects.filter(stream=f"callback-{callback_id}")
        .order_by("position")
        .values_list("type", flat=True)
    )


def later(seconds: float) -> datetime:
    return timezone.now() + timedelta(seconds=seconds)


# --- Request -------------------------------------------------------------------------------------------


def test_request_lands_on_the_customers_thread_and_is_due_now(api, supervisor_api):
    first = post(api, data={"channel": "sms", "text": "my bill is wrong", "topic": "billing"})
    body = request_callback(api, reason="bill question")
    assert body["state"] == "scheduled" and body["attempt"] == 1
    assert body["thread_id"] == first["thread_id"]  # the thread rules put it on the open thread
    assert abs(datetime.fromisoformat(body["due_at"]) - timezone.now()) < timedelta(seconds=5)
    assert stream_types(body["id"]) == ["callback.requested", "callback.scheduled"]

    thread = supervisor_api.get(f"/api/v1/threads/{first['thread_id']}").json()
    assert [e["type"] for e in thread["timeline"]] == [
        "message.received",
        "callback.requested",
        "callback.scheduled",
    ]
    assert "bill question" in thread["timeline"][1]["text"]
    context = supervisor_api.get("/api/v1/context", {"identifier": CUSTOMER}).json()
    assert [c["id"] for c in context["pending_callbacks"]] == [body["id"]]
    assert supervisor_api.get(f"{CALLBACKS}/{body['id']}").json() == body


def test_a_callback_from_a_new_number_creates_the_customer_and_a_thread(api):
    body = request_callback(api, identifier="tel:+15559990000", phone="tel:+15559990000", topic="tech")
    callback = Callback.objects.get(pk=body["id"])
    assert callback.thread.topic == "tech" and callback.phone == "+15559990000"
    assert StoredEvent.objects.filter(type__in=["customer.created", "thread.opened"]).count() == 2


def test_a_later_time_is_kept_and_a_known_timezone_limits_it_to_calling_hours(api):
    at = (timezone.now() + timedelta(days=2)).replace(hour=3, minute=0, second=0, microsecond=0)
    body = request_callback(api, at=at.isoformat(), timezone="America/New_York")
    # 03:00 UTC is 22:00 or 23:00 in New York: after its 21:00 end, so 08:00 local the next morning.
    due = datetime.fromisoformat(body["due_at"])
    assert due.astimezone(schedule.schedules("America/New_York")[1].tz).hour == 8
    assert due > at and body["timezone"] == body["requested_timezone"] == "America/New_York"
    assert body["not_before"] == at.isoformat().replace("+00:00", "Z")


def test_a_zone_kept_before_the_strict_check_is_still_read_and_callbacks_go_on(api):
    """Profiles kept `localtime` before the check refused it: reading them must not fail a request (500)."""
    post(api, type="customer.profile_updated", data={"timezone": "Asia/Tokyo"})
    Customer.objects.update(timezone="localtime")

    body = request_callback(api)

    assert body["timezone"] == "localtime"
    Customer.objects.update(timezone="Mars/Olympus_Mons")  # kept once, gone from tzdata since
    assert request_callback(api)["timezone"] == "Mars/Olympus_Mons"  # business hours alone apply


def test_a_kept_zone_tzdata_no_longer_knows_does_not_stop_the_dispatch(api, settings):
    """Offering a callback of a customer whose kept zone tzdata no longer knows once raised in the offer's
    context and rolled back every offer of the page, every tick."""
    settings.THREADLINE_CUSTOMER_CALLING_HOURS = "daily 00:00-24:00"
    post(api, type="customer.profile_updated", data={"timezone": "Asia/Tokyo"})
    Customer.objects.update(timezone="Mars/Olympus_Mons")  # kept once, gone from tzdata since
    lost = request_callback(api)
    other = request_callback(api, identifier="tel:+15550000002", phone="+15550000002")
    online_agent()
    online_agent()

    dispatch.callbacks_dispatch()

    assert offers(other["id"])
    [offer] = offers(lost["id"])
    context = offer.data["context"]
    assert context["customer_timezone"] == "Mars/Olympus_Mons" and context["customer_local_time"] is None


def test_the_customer_profile_timezone_is_used_when_the_request_has_none(api):
    post(api, type="customer.profile_updated", data={"timezone": "Asia/Tokyo"})
    body = request_callback(api)
    assert body["timezone"] == "Asia/Tokyo"
    assert body["requested_timezone"] is None  # the profile's: a later profile zone replaces it


def test_a_zone_learnt_after_the_request_limits_the_callback_to_calling_hours(api):
    """The zone used to be fixed at the request: a customer whose zone came later was called at 23:00."""
    at = (timezone.now() + timedelta(days=1)).replace(hour=7, minute=0, second=0, microsecond=0)
    body = request_callback(api, at=at.isoformat())
    assert body["timezone"] is None
    post(api, type="customer.profile_updated", data={"timezone": "America/Los_Angeles"})  # 07:00 UTC: 23:00
    online_agent()

    dispatch.callbacks_dispatch(now=at)

    row = Callback.objects.get(pk=body["id"])
    assert not offers(body["id"]) and row.state == CallbackState.SCHEDULED
    los_angeles = schedule.schedules("America/Los_Angeles")[1].tz
    assert row.due_at.astimezone(los_angeles).hour == 8
    dispatch.callbacks_dispatch(now=row.due_at)
    context = offers(body["id"])[0].data["context"]
    assert context["customer_timezone"] == "America/Los_Angeles"
    assert context["customer_local_time"].startswith(row.due_at.astimezone(los_angeles).isoformat()[:16])


def test_a_retry_reads_calling_hours_in_the_zone_the_customer_has_now(api, monkeypatch):
    agent = online_agent()
    now = datetime(2099, 1, 5, 6, 0, tzinfo=UTC)  # 22:00 the evening before in Los Angeles
    body = request_callback(api, at=now.isoformat(), window_end=(now + timedelta(days=2)).isoformat())
    dispatch.callbacks_dispatch(now=now)  # no zone known: business hours alone
    callbacks.callback_accept(callback_id=body["id"], actor=agent)
    post(api, type="customer.profile_updated", data={"timezone": "America/Los_Angeles"})
    monkeypatch.setattr(timezone, "now", lambda: now)

    callbacks.callback_outcome(callback_id=body["id"], actor=agent, outcome="no_answer")

    row = Callback.objects.get(pk=body["id"])  # not 22:05 their time, but 08:00 next morning (16:00 UTC)
    assert row.attempt == 2 and row.due_at == datetime(2099, 1, 5, 16, 0, tzinfo=UTC)


def test_a_zone_the_request_names_holds_whatever_the_profile_says_later(api):
    at = (timezone.now() + timedelta(days=1)).replace(hour=14, minute=0, second=0, microsecond=0)
    body = request_callback(api, at=at.isoformat(), timezone="Europe/London")
    post(api, type="customer.profile_updated", data={"timezone": "Asia/Tokyo"})  # 14:00 UTC: 23:00 there
    online_agent()

    dispatch.callbacks_dispatch(now=at)

    context = offers(body["id"])[0].data["context"]
    assert context["customer_timezone"] == "Europe/London"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"at": "2020-01-01T10:00:00+00:00"}, "at"),
        ({"at": "2099-01-01T10:00:00"}, "at"),
        ({"at": "2099-01-02T10:00:00Z", "window_end": "2099-01-01T10:00:00Z"}, "window_end"),
        ({"phone": "call me maybe"}, "phone"),
        ({"phone": "+1 555 123 4568 ext 99"}, "phone"),  # the extension was dropped from the number to dial
        ({"phone": "tel:+15551234568;ext=99"}, "phone"),
        ({"identifier": "fax:123"}, "identifier"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "localtime"}, "timezone"),  # the server's own zone, not the customer's
        ({"timezone": "Factory"}, "timezone"),
        ({"timezone": "posixrules"}, "timezone"),
        ({"timezone": "right/UTC"}, "timezone"),  # counts leap seconds: 27 s off every clock
        ({"timezone": "posix/Factory"}, "timezone"),
        ({"thread_id": "00000000-0000-0000-0000-000000000001"}, "thread_id"),
        ({"phone": None}, "phone"),
    ],
)
def test_bad_requests_get_a_problem_naming_the_field_and_write_nothing(api, body, field):
    before = log_snapshot()
    payload = {"identifier": CUSTOMER, "phone": "+15551234567", **body}
    response = api.post(CALLBACKS, {k: v for k, v in payload.items() if v is not None}, format="json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]]
    assert log_snapshot() == before and not Callback.objects.exists()


def test_a_window_with_no_business_hours_in_it_is_refused(api, settings):
    settings.THREADLINE_BUSINESS_HOURS = "mon-fri 09:00-17:00"
    saturday = datetime(2099, 1, 3, 10, 0, tzinfo=UTC)  # a Saturday
    response = api.post(
        CALLBACKS,
        {
            "identifier": CUSTOMER,
            "phone": "+15551234567",
            "at": saturday.isoformat(),
            "window_end": (saturday + timedelta(hours=20)).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 400
    assert "business hours" in response.json()["detail"] and not Callback.objects.exists()


def test_agents_may_not_answer_an_offer_they_do_not_hold_and_agents_only_answer(api, supervisor_api):
    body = request_callback(api)
    response = supervisor_api.post(f"{CALLBACKS}/{body['id']}/accept")
    assert response.status_code == 403
    stranger = client_for(ApiTokenFactory(role=Role.AGENT))
    assert stranger.post(f"{CALLBACKS}/{body['id']}/accept").status_code == 409  # not offered to anyone
    assert stranger.post(f"{CALLBACKS}/00000000-0000-0000-0000-000000000001/accept").status_code == 404


# --- Routing and the offer ----------------------------------------------------------------------------


def test_a_due_callback_is_offered_to_an_available_agent_with_the_whole_context(api, settings):
    settings.THREADLINE_CUSTOMER_CALLING_HOURS = "daily 00:00-24:00"  # whatever the hour in Paris now
    post(api, subject="mailto:ann@example.com", data={"channel": "email", "text": "invoice attached?"})
    post(
        api,
        data={
            "channel": "sms",
            "text": "card 4111 1111 1111 1111 was charged twice",
            "identifiers": ["mailto:ann@example.com"],
        },
    )
    post(api, type="customer.profile_updated", data={"name": "Ann Lee", "timezone": "Europe/Paris"})
    agent = online_agent()
    body = request_callback(api, reason="double charge")
    assert dispatch.callbacks_dispatch() == 1

    (offer,) = offers(body["id"])
    data = offer.data
    assert data["agent_id"] == str(agent.pk) and data["attempt"] == 1 and data["offer"] == 1
    context = data["context"]
    assert context["reason"] == "double charge" and context["phone"] == "+15551234567"
    assert context["customer"]["name"] == "Ann Lee"
    assert set(context["customer"]["identifiers"]) == {"mailto:ann@example.com", CUSTOMER}
    assert context["customer_timezone"] == "Europe/Paris"
    assert context["customer_local_time"].endswith(("+01:00", "+02:00"))
    channels = [e["channel"] for e in context["recent"]]
    assert {"email", "sms", "callback"} <= set(channels)
    assert any("**** 1111" in e["text"] or "1111" in e["text"] for e in context["recent"])
    assert not any("4111 1111 1111 1111" in e["text"] for e in context["recent"])  # redacted before the log
    assert context["earlier_attempts"] == []
    row = Callback.objects.get(pk=body["id"])
    assert row.state == CallbackState.OFFERED and row.agent_id == str(agent.pk)


def test_nobody_available_means_it_waits_then_goes_to_the_first_agent_who_is(api):
    body = request_callback(api)
    assert dispatch.callbacks_dispatch() == 0
    away = ApiTokenFactory(role=Role.AGENT)
    presence.agent_status_set(agent=away, status="available")  # available, but no socket open
    busy = ApiTokenFactory(role=Role.AGENT)
    presence.agent_socket_open(agent=busy)
    presence.agent_status_set(agent=busy, status="busy")
    assert dispatch.callbacks_dispatch() == 0
    assert Callback.objects.get(pk=body["id"]).state == CallbackState.SCHEDULED
    agent = online_agent()
    assert dispatch.callbacks_dispatch() == 1
    assert offers(body["id"])[0].data["agent_id"] == str(agent.pk)


def test_the_agent_who_last_handled_the_thread_is_preferred(api):
    others = [online_agent("billing") for _ in range(3)]
    handler = online_agent()
    post(api, data={"channel": "sms", "text": "thanks", "agent_id": str(handler.pk), "topic": "billing"})
    body = request_callback(api)
    dispatch.callbacks_dispatch()
    offer = offers(body["id"])[0].data
    assert offer["agent_id"] == str(handler.pk) and offer["route"] == "last_agent"
    assert others  # present and skilled, yet the last handler comes first


def test_an_offer_cancelled_before_it_was_answered_does_not_make_its_agent_the_last_handler(api):
    """The cancellation names the agent the offer was with: it counted as their handling the thread."""
    post(api, data={"channel": "sms", "text": "refund please", "topic": "billing"})
    generalist = online_agent("sales")
    first = request_callback(api)
    dispatch.callbacks_dispatch()
    callbacks.callback_cancel(callback_id=first["id"], actor=generalist)
    specialist = online_agent("billing")
    second = request_callback(api)

    dispatch.callbacks_dispatch()

    offer = offers(second["id"])[0].data
    assert (offer["agent_id"], offer["route"]) == (str(specialist.pk), "skills")


def test_a_skill_match_beats_an_agent_offered_less_recently(api):
    generalist = online_agent("sales")
    specialist = online_agent("billing")
    post(api, data={"channel": "sms", "text": "refund please", "topic": "billing"})
    body = request_callback(api)
    dispatch.callbacks_dispatch()
    offer = offers(body["id"])[0].data
    assert (offer["agent_id"], offer["route"]) == (str(specialist.pk), "skills")
    assert generalist


def test_without_a_skill_match_the_agent_offered_least_recently_gets_it(api):
    a, b = online_agent(), online_agent()
    first = request_callback(api, identifier="tel:+15550000001", phone="+15550000001")
    dispatch.callbacks_dispatch()
    first_agent = offers(first["id"])[0].data["agent_id"]
    callbacks.callback_accept(callback_id=first["id"], actor=a if first_agent == str(a.pk) else b)
    callbacks.callback_outcome(
        callback_id=first["id"], actor=a if first_agent == str(a.pk) else b, outcome="completed"
    )
    second = request_callback(api, identifier="tel:+15550000002", phone="+15550000002")
    dispatch.callbacks_dispatch()
    second_agent = offers(second["id"])[0].data["agent_id"]
    assert second_agent != first_agent and offers(second["id"])[0].data["route"] == "least_recent"


def test_an_agent_holding_an_offer_gets_no_second_one(api):
    online_agent()
    one = request_callback(api, identifier="tel:+15550000001", phone="+15550000001")
    two = request_callback(api, identifier="tel:+15550000002", phone="+15550000002")
    assert dispatch.callbacks_dispatch() == 1
    assert len(offers(one["id"])) + len(offers(two["id"])) == 1


def test_an_unanswered_offer_goes_to_the_next_agent_and_a_late_accept_is_refused(api, agent_api):
    first, second = online_agent(), online_agent()
    body = request_callback(api)
    dispatch.callbacks_dispatch()
    offered_to = offers(body["id"])[0].data["agent_id"]
    holder, other = (first, second) if offered_to == str(first.pk) else (second, first)
    assert dispatch.callbacks_dispatch(now=later(10)) == 0  # still inside the 30 s
    assert dispatch.callbacks_dispatch(now=later(31)) == 2  # timed out, and offered to the other
    assert stream_types(body["id"])[-2:] == ["callback.offer_timed_out", "callback.offered"]
    second_offer = offers(body["id"])[1].data
    assert second_offer["agent_id"] == str(other.pk) and second_offer["offer"] == 2
    response = client_for(holder).post(f"{CALLBACKS}/{body['id']}/accept")
    assert response.status_code == 409  # a stale answer (README), though it is someone else's now
    assert response["Content-Type"] == "application/problem+json"
    assert "the offer to you has ended" in response.json()["detail"]
    stranger = client_for(ApiTokenFactory(role=Role.AGENT)).post(f"{CALLBACKS}/{body['id']}/accept")
    assert stranger.status_code == 403  # never offered it: another agent's


@pytest.mark.parametrize("status", ["offline", "busy"])
def test_an_offer_whose_agent_leaves_goes_to_another_at_once(api, status):
    # It stood for the rest of its 30 s, while the customer waited for an agent who had gone.
    first, second = online_agent(), online_agent()
    body = request_callback(api)
    dispatch.callbacks_dispatch()
    offered_to = offers(body["id"])[0].data["agent_id"]
    holder, other = (first, second) if offered_to == str(first.pk) else (second, first)
    assert dispatch.callbacks_dispatch() == 0  # the holder is still there: the offer stands

    presence.agent_status_set(agent=holder, status=status)

    assert dispatch.callbacks_dispatch() == 2
    lapsed = StoredEvent.objects.get(stream=f"callback-{body['id']}", type="callback.offer_timed_out")
    assert lapsed.data["agent_id"] == str(holder.pk)
    assert lapsed.data["reason"] == "the agent was no longer available"
    assert offers(body["id"])[1].data["agent_id"] == str(other.pk)


def test_a_decline_reroutes_and_the_decliner_is_not_asked_again_this_attempt(api):
    a = online_agent()
    body = request_callback(api)
    dispatch.callbacks_dispatch()
    response = client_for(a).post(
        f"{CALLBACKS}/{body['id']}/decline", {"reason": "on a break"}, format="json"
    )
    assert response.status_code == 200 and response.json()["state"] == "scheduled"
    assert dispatch.callbacks_dispatch() == 0  # the only free agent declined: it waits
    b = online_agent()
    assert dispatch.callbacks_dispatch() == 1
    assert [o.data["agent_id"] for o in offers(body["id"])] == [str(a.pk), str(b.pk)]


# --- Answers, outcomes and retries -------------------------------------------------------------------


def test_accept_then_completed_ends_it_and_repeats_change_nothing(api):
    agent = online_agent()
    body = request_callback(api)
    dispatch.callbacks_dispatch()
    client = client_for(agent)
    assert client.post(f"{CALLBACKS}/{body['id']}/accept").json()["state"] == "accepted"
    assert client.post(f"{CALLBACKS}/{body['id']}/accept").status_code == 200  # a retried request
    response = client.post(f"{CALLBACKS}/{body['id']}/outcome", {"outcome": "completed"}, format="json")
    assert response.json()["state"] == "completed"
    [outcome] = response.json()["outcomes"]
    assert outcome["outcome"] == "completed" and outcome["at"].endswith("Z"), outcome  # as every time here
    assert (
        client.post(f"{CALLBACKS}/{body['id']}/outcome", {"outcome": "completed"}, format="json").status_code
        == 200
    )
    assert stream_types(body["id"]) == [
        "callback.requested",
        "callback.scheduled",
        "callback.offered",
        "callback.accepted",
        "callback.completed",
    ]
    assert (
        client.post(f"{CALLBACKS}/{body['id']}/outcome", {"outcome": "sideways"}, format="json").status_code
        == 400
    )


def test_failed_attempts_retry_after_5_15_and_30_minutes_then_expire(api):
    agent = online_agent()
    body = request_callback(api)
    outcomes = ["no_answer", "busy", "failed", "no_answer"]
    waits = []
    now = timezone.now()
    for attempt, outcome in enumerate(outcomes, start=1):
        dispatch.callbacks_dispatch(now=now)
        row = Callback.objects.get(pk=body["id"])
        assert row.state == CallbackState.OFFERED and row.attempt == attempt
        callbacks.callback_accept(callback_id=body["id"], actor=agent)
        reported_at = timezone.now()
        row = callbacks.callback_outcome(callback_id=body["id"], actor=agent, outcome=outcome)
        if row.state == CallbackState.SCHEDULED:
            waits.append(round((row.due_at - reported_at).total_seconds() / 60))
            assert dispatch.callbacks_dispatch(now=row.due_at - timedelta(seconds=1)) == 0  # not yet
            now = row.due_at
    assert waits == [5, 15, 30]
    row = Callback.objects.get(pk=body["id"])
    assert row.state == CallbackState.EXPIRED and len(row.outcomes) == 4
    assert [o["outcome"] for o in row.outcomes] == outcomes
    assert len(offers(body["id"])) == 4  # one per attempt
    # Each attempt's offer carries the earlier attempts and their outcomes.
    assert [len(o.data["context"]["earlier_attempts"]) for o in offers(body["id"])] == [0, 1, 2, 3]


def test_a_retry_that_would_fall_after_the_window_ends_it_as_expired(api):
    agent = online_agent()
    body = request_callback(api, window_end=later(120).isoformat())
    dispatch.callbacks_dispatch()
    callbacks.callback_accept(callback_id=body["id"], actor=agent)
    row = callbacks.callback_outcome(callback_id=body["id"], actor=agent, outcome="busy")
    assert row.state == CallbackState.EXPIRED
    assert stream_types(body["id"])[-2:] == ["callback.busy", "callback.expired"]


def test_a_callback_nobody_takes_expires_when_its_window_ends(api):
    body = request_callback(api, window_end=later(60).isoformat())
    assert dispatch.callbacks_dispatch(now=later(61)) == 1
    assert Callback.objects.get(pk=body["id"]).state == CallbackState.EXPIRED
    online_agent()
    assert dispatch.callbacks_dispatch(now=later(62)) == 0 and offers(body["id"]) == []


def test_an_accepted_callback_without_an_outcome_expires_a_grace_period_after_its_window(api, settings):
    """It stayed accepted for ever: cancel answered 409, the context said pending, the agent was busy."""
    settings.THREADLINE_CALLBACK_OUTCOME_GRACE_HOURS = 2
    agent = online_agent()
    body = request_callback(api, window_end=later(600).isoformat())
    dispatch.callbacks_dispatch()
    callbacks.callback_accept(callback_id=body["id"], actor=agent)  # and nobody reports how it went

    # Overdue long before (callback.outcome_overdue, THREADLINE_CALLBACK_OUTCOME_OVERDUE_MINUTES), once.
    assert dispatch.callbacks_dispatch(now=later(600 + 7000)) == 1
    assert dispatch.callbacks_dispatch(now=later(600 + 7100)) == 0  # the grace period has not passed
    assert Callback.objects.get(pk=body["id"]).state == CallbackState.ACCEPTED
    assert dispatch.callbacks_dispatch(now=later(600 + 7300)) == 1
    assert dispatch.callbacks_dispatch(now=later(600 + 7400)) == 0  # claimed once

    row = Callback.objects.get(pk=body["id"])
    assert row.state == CallbackState.EXPIRED and row.agent_id == ""
    expired = StoredEvent.objects.get(stream=f"callback-{body['id']}", type="callback.expired")
    assert "no outcome was recorded" in expired.data["reason"]
    # The agent on the call hears of it, on agent:me (their desk showed the call under way for good).
    assert expired.data["agent_id"] == str(agent.pk)
    assert f"agent:{agent.pk}" in event_topics(log.read_after(expired.position - 1, limit=1)[0])
    assert str(agent.pk) in dispatch.available_agents()  # free for the next call
    assert api.post(f"{CALLBACKS}/{body['id']}/cancel").status_code == 409  # it is over


def test_a_callback_whose_offers_were_declined_or_lapsed_expires_saying_so(api):
    """It said "before an agent was free" although free agents had been offered it."""
    first, second = online_agent(), online_agent()
    body = request_callback(api, window_end=later(60).isoformat())
    dispatch.callbacks_dispatch()
    offered_to = offers(body["id"])[0].data["agent_id"]
    declining = first if offered_to == str(first.pk) else second
    callbacks.callback_decline(callback_id=body["id"], actor=declining)
    dispatch.callbacks_dispatch()  # to the other, who lets it lapse

    dispatch.callbacks_dispatch(now=later(61))

    expired = StoredEvent.objects.get(stream=f"callback-{body['id']}", type="callback.expired")
    assert expired.data["reason"] == (
        "its window ended: all 2 agents offered it declined or let the offer lapse, and nobody else was free"
    )


def test_outside_business_hours_a_due_callback_is_moved_to_the_next_opening(api, settings):
    friday_noon = datetime(2099, 1, 2, 12, 0, tzinfo=UTC)
    body = request_callback(
        api, at=friday_noon.isoformat(), window_end=(friday_noon + timedelta(days=7)).isoformat()
    )  # open all day by default: due Friday noon
    settings.THREADLINE_BUSINESS_HOURS = "mon-fri 09:00-17:00"
    settings.THREADLINE_BUSINESS_TIMEZONE = "Europe/Berlin"
    online_agent()
    dispatch.callbacks_dispatch(now=friday_noon + timedelta(days=1))  # Saturday: closed
    row = Callback.objects.get(pk=body["id"])
    # Monday 09:00 in Berlin (CET, +1) is 08:00 UTC.
    assert row.state == CallbackState.SCHEDULED and row.due_at == datetime(2099, 1, 5, 8, 0, tzinfo=UTC)
    assert offers(body["id"]) == [] and stream_types(body["id"])[-1] == "callback.scheduled"
    assert dispatch.callbacks_dispatch(now=row.due_at) == 1 and len(offers(body["id"])) == 1


def test_agents_who_let_it_lapse_before_closing_time_are_offered_it_at_the_next_opening(api, settings):
    """Agents asked before the move to the next opening were never asked again: it waited for others."""
    settings.THREADLINE_BUSINESS_HOURS = "mon-fri 08:00-20:00"
    friday = datetime(2099, 1, 2, 19, 58, tzinfo=UTC)
    body = request_callback(api, at=friday.isoformat(), window_end=(friday + timedelta(days=4)).isoformat())
    first, second = online_agent(), online_agent()
    dispatch.callbacks_dispatch(now=friday)  # offered to one
    dispatch.callbacks_dispatch(now=friday + timedelta(seconds=31))  # lapsed: offered to the other
    dispatch.callbacks_dispatch(now=friday + timedelta(seconds=62))  # lapsed: nobody else to ask
    dispatch.callbacks_dispatch(now=friday + timedelta(minutes=3))  # 20:01: moved to Monday 08:00
    row = Callback.objects.get(pk=body["id"])
    assert row.due_at == datetime(2099, 1, 5, 8, 0, tzinfo=UTC) and row.tried_agents == []

    dispatch.callbacks_dispatch(now=row.due_at)

    third = offers(body["id"])[-1]
    assert len(offers(body["id"])) == 3 and third.event_id == f"{body['id']}/1/3/offered"
    assert third.data["agent_id"] in {str(first.pk), str(second.pk)}


# --- Cancel ---------------------------------------------------------------------------------------------


def test_a_cancelled_callback_never_fires(api):
    body = request_callback(api)
    response = api.post(f"{CALLBACKS}/{body['id']}/cancel", {"reason": "sorted it online"}, format="json")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    assert api.post(f"{CALLBACKS}/{body['id']}/cancel").status_code == 200  # twice is harmless
    online_agent()
    assert dispatch.callbacks_dispatch(now=later(3600)) == 0 and offers(body["id"]) == []
    assert stream_types(body["id"]).count("callback.cancelled") == 1


def test_cancelling_an_offer_tells_the_agent_and_a_call_under_way_cannot_be_cancelled(api):
    agent = online_agent()
    one = request_callback(api, identifier="tel:+15550000001", phone="+15550000001")
    dispatch.callbacks_dispatch()
    callbacks.callback_cancel(callback_id=one["id"], actor=agent)
    cancelled = StoredEvent.objects.get(stream=f"callback-{one['id']}", type="callback.cancelled")
    assert cancelled.data["agent_id"] == str(agent.pk)  # delivered on the agent's topic

    two = request_callback(api, identifier="tel:+15550000002", phone="+15550000002")
    dispatch.callbacks_dispatch()
    callbacks.callback_accept(callback_id=two["id"], actor=agent)
    response = api.post(f"{CALLBACKS}/{two['id']}/cancel")
    assert response.status_code == 409 and response.json()["type"].endswith("/callback-conflict")


# --- Idempotency ------------------------------------------------------------------------------------------


def test_dispatching_again_or_replaying_a_transition_makes_no_second_offer(api):
    online_agent()
    online_agent()
    body = request_callback(api)
    now = timezone.now()
    assert dispatch.callbacks_dispatch(now=now) == 1
    assert dispatch.callbacks_dispatch(now=now) == 0
    # A stale claimant that computed the same step appends nothing: the event id is the step's key.
    (offer,) = offers(body["id"])
    assert offer.event_id == f"{body['id']}/1/1/offered"
    from hub import store
    from hub.events import NewEvent

    again = store.append(
        [NewEvent(source=offer.source, id=offer.event_id, type=offer.type, stream="x", data={})]
    )
    assert again[0].duplicate and len(offers(body["id"])) == 1


def test_lists_filter_by_state_and_agent(api, supervisor_api):
    agent = online_agent()
    one = request_callback(api, identifier="tel:+15550000001", phone="+15550000001")
    request_callback(api, identifier="tel:+15550000002", phone="+15550000002")
    dispatch.callbacks_dispatch()
    offered = supervisor_api.get(CALLBACKS, {"state": "offered", "agent": str(agent.pk)}).json()
    assert [c["id"] for c in offered["results"]] == [one["id"]]
    assert supervisor_api.get(CALLBACKS, {"state": "scheduled"}).json()["count"] == 1
    assert supervisor_api.get(CALLBACKS, {"state": "lost"}).status_code == 400
    unknown = supervisor_api.get(CALLBACKS, {"agent": "xyz"})  # not an agent's id: said, not an empty list
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["field"] == "agent"


# --- Celery, eagerly -------------------------------------------------------------------------------------


def test_an_asap_request_is_offered_at_once_by_the_nudged_task(
    api, eager_celery, django_capture_on_commit_callbacks
):
    agent = online_agent()
    with django_capture_on_commit_callbacks(execute=True):
        body = request_callback(api)
    assert Callback.objects.get(pk=body["id"]).agent_id == str(agent.pk)


def test_an_agent_becoming_available_is_offered_the_waiting_callback(
    api, eager_celery, django_capture_on_commit_callbacks
):
    body = request_callback(api)
    agent = ApiTokenFactory(role=Role.AGENT)
    presence.agent_socket_open(agent=agent)
    with django_capture_on_commit_callbacks(execute=True):
        presence.agent_status_set(agent=agent, status="available")
    assert offers(body["id"])[0].data["agent_id"] == str(agent.pk)


def test_the_beat_entry_due_after_a_tick_runs_the_dispatcher_task_by_name_with_tick_and_it_offers(
    api, settings, eager_celery, celery_runs
):
    agent = online_agent()
    body = request_callback(api)  # its nudge waits for a commit that never comes in this test
    assert offers(body["id"]) == []
    # Beat's own scheduler: its entries come from the Celery app's configuration, as in `celery beat`.
    scheduler = beat.Scheduler(app=celery_app)
    entry = scheduler.schedule["callbacks-dispatch"]
    entry.last_run_at -= timedelta(seconds=settings.THREADLINE_CALLBACK_TICK_SECONDS)  # a tick has passed

    assert entry.is_due().is_due
    scheduler.apply_async(entry)  # what beat does with a due entry (raising, where beat would only log)

    assert celery_runs == [(jobs.CALLBACKS_DISPATCH, (), {"tick": True})]
    (offer,) = offers(body["id"])
    assert offer.data["agent_id"] == str(agent.pk)


def test_a_callback_left_waiting_for_an_agent_is_offered_when_one_finishes_a_call(
    api, settings, eager_celery, django_capture_on_commit_callbacks
):
    settings.THREADLINE_CALLBACK_TICK_SECONDS = 0  # anything due now has waited longer than a tick
    agent = online_agent()
    first = request_callback(api, identifier="tel:+15550000001", phone="+15550000001")
    dispatch.callbacks_dispatch()
    second = request_callback(api, identifier="tel:+15550000002", phone="+15550000002")
    assert dispatch.callbacks_dispatch() == 0  # the only agent holds the first
    callbacks.callback_accept(callback_id=first["id"], actor=agent)
    with django_capture_on_commit_callbacks(execute=True):
        callbacks.callback_outcome(callback_id=first["id"], actor=agent, outcome="completed")
    assert Callback.objects.get(pk=second["id"]).agent_id == str(agent.pk)


def _table_locked_as_a_rebuild_locks_it(locked: threading.Event, release: threading.Event) -> None:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {Callback._meta.db_table} IN EXCLUSIVE MODE")
            locked.set()
            release.wait(30)
    finally:
        locked.set()
        connection.close()


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_while_an_offline_rebuild_holds_the_callbacks_table_a_tick_ends_and_the_next_offers(
    api, settings, monkeypatch
):
    """An offline rebuild locks the callbacks table against claims for its whole replay; SKIP LOCKED skips
    locked rows, not that. The tick waits a bounded time and ends, leaving the worker and the routing lock
    free; once the table is free, the next tick offers the callback."""
    settings.THREADLINE_CUSTOMER_CALLING_HOURS = "daily 00:00-24:00"
    monkeypatch.setattr(dispatch, "CLAIM_WAIT_MS", 200)
    post(api, data={"channel": "sms", "text": "call me"})
    online_agent()
    body = request_callback(api, reason="billing")
    locked, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_table_locked_as_a_rebuild_locks_it, args=(locked, release))
    holder.start()
    locked.wait(10)

    try:
        assert dispatch.callbacks_dispatch() == 0  # ended, the table still held
        assert holder.is_alive() and offers(body["id"]) == []
    finally:
        release.set()
        holder.join(30)

    assert dispatch.callbacks_dispatch() == 1 and len(offers(body["id"])) == 1


def test_a_reply_the_day_after_a_completed_callback_call_continues_its_thread(api, monkeypatch):
    """The call 60 h after their SMS was contact: 20 h after it (80 h after the SMS, past the 72 h window
    from the SMS alone) the customer's follow-up continues the same thread."""
    real = timezone.now()
    first = helpers.post(api, time=real.isoformat(), data={"channel": "sms", "text": "please call me"})
    agent = online_agent()
    later = real + timedelta(hours=60)
    body = request_callback(api, at=later.isoformat(), window_end=(real + timedelta(hours=70)).isoformat())
    monkeypatch.setattr(timezone, "now", lambda: later)
    presence.agent_socket_seen(socket_id=presence.agent_socket_open(agent=agent))  # the desk is open then
    dispatch.callbacks_dispatch(now=later)
    callbacks.callback_accept(callback_id=body["id"], actor=agent)
    callbacks.callback_outcome(callback_id=body["id"], actor=agent, outcome="completed", note="explained")
    monkeypatch.setattr(timezone, "now", lambda: real + timedelta(hours=80))

    again = helpers.post(api, time=None, data={"channel": "sms", "text": "thanks, one more thing"})

    assert body["thread_id"] == first["thread_id"]
    assert again["thread_id"] == first["thread_id"]


def test_a_request_sent_again_with_its_idempotency_key_makes_one_callback(api):
    # A retry after a lost answer made a second callback: the customer would be called twice.
    key = {"HTTP_IDEMPOTENCY_KEY": "cb-retry-1"}
    body = {"identifier": CUSTOMER, "phone": "+15551234567", "reason": "Refund question"}

    first = api.post(CALLBACKS, body, format="json", **key)
    again = api.post(CALLBACKS, body, format="json", **key)
    other = api.post(CALLBACKS, {**body, "reason": "Something else"}, format="json", **key)

    assert first.status_code == again.status_code == 201, again.content
    assert again.json()["id"] == first.json()["id"]
    assert Callback.objects.count() == 1
    assert StoredEvent.objects.filter(type="callback.requested").count() == 1
    assert (
        other.status_code == 409 and "Idempotency-Key was used for another request" in other.json()["detail"]
    )
    # Without the key, the same body is a new request.
    assert api.post(CALLBACKS, body, format="json").json()["id"] != first.json()["id"]


def test_a_request_with_at_sent_again_answers_its_callback_however_late_the_retry(api):
    """`at` now (or within the clock's slack, or passed by the time of the retry) made the start the first
    request's "now": a retry, a moment later, asked for another start (409), and a retry after `at` had
    passed was "at is in the past" (400). A client then sending it without the key had the customer called
    twice. A repeat is judged as of its first request."""
    key = {"HTTP_IDEMPOTENCY_KEY": "cb-at-retry"}
    body = {"identifier": CUSTOMER, "phone": "+15551234567", "at": timezone.now().isoformat()}
    first = api.post(CALLBACKS, body, format="json", **key)
    again = api.post(CALLBACKS, body, format="json", **key)
    assert first.status_code == again.status_code == 201, again.content
    assert again.json()["id"] == first.json()["id"]

    token = ApiTokenFactory(role=Role.AGENT)
    asked = callbacks.RequestInput(
        identifier=CUSTOMER, phone="+15551234567", at=timezone.now() + timedelta(seconds=30)
    )
    made = callbacks.callback_request(actor=token, request=asked, idempotency_key="later")
    for later in (45, 120, 3600):  # past `at`, and past the clock's slack
        retried = callbacks.callback_request(
            actor=token, request=asked, idempotency_key="later", now=timezone.now() + timedelta(seconds=later)
        )
        assert retried.pk == made.pk
    moved = replace(asked, at=asked.at + timedelta(minutes=5))
    with pytest.raises(IdempotencyKeyReused):  # another start is another request
        callbacks.callback_request(actor=token, request=moved, idempotency_key="later")
    assert Callback.objects.count() == 2
    assert StoredEvent.objects.filter(type="callback.requested").count() == 2


def test_a_callback_asked_for_at_the_end_of_2199_has_its_default_window_end_there_too(api):
    # Its default 24 h window ended in 2200, past any time the log or the API takes.
    body = request_callback(api, at="2199-12-31T23:00:00+00:00")

    assert body["window_end"] == "2199-12-31T23:59:59.999999Z"


# --- Stale and repeated answers (found by a review, 2026-12-05) ----------------------------------------


def _offered_to_one_agent(api) -> tuple[dict, object]:
    agent = online_agent()
    body = request_callback(api)
    dispatch.callbacks_dispatch()
    assert Callback.objects.get(pk=body["id"]).agent_id == str(agent.pk)
    return body, agent


def test_an_accept_after_the_offer_lapsed_is_refused_before_the_dispatcher_records_it(api):
    body, agent = _offered_to_one_agent(api)
    Callback.objects.filter(pk=body["id"]).update(offer_expires_at=timezone.now() - timedelta(seconds=1))

    for answer in (callbacks.callback_accept, callbacks.callback_decline):
        with pytest.raises(callbacks.CallbackConflict, match="the offer to you lapsed at"):
            answer(callback_id=body["id"], actor=agent)
    assert stream_types(body["id"])[-1] == "callback.offered"  # nothing written; the next tick lapses it


def test_a_decline_after_the_offer_lapsed_is_stale_and_a_repeated_decline_stays_harmless(api):
    body, agent = _offered_to_one_agent(api)
    assert dispatch.callbacks_dispatch(now=later(31)) == 1  # lapsed, nobody else to offer it to
    with pytest.raises(callbacks.CallbackConflict, match="the offer to you has ended"):
        callbacks.callback_decline(callback_id=body["id"], actor=agent)  # was 200 "declined already"

    other = online_agent()
    assert dispatch.callbacks_dispatch(now=later(32)) == 1
    callbacks.callback_decline(callback_id=body["id"], actor=other)
    third = online_agent()
    dispatch.callbacks_dispatch(now=later(33))
    assert Callback.objects.get(pk=body["id"]).agent_id == str(third.pk)
    before = stream_types(body["id"])
    repeated = callbacks.callback_decline(callback_id=body["id"], actor=other)  # was 403 "another agent's"
    assert repeated.agent_id == str(third.pk) and stream_types(body["id"]) == before


def test_an_outcome_is_a_repeat_only_until_the_next_attempt_is_offered(api):
    body, agent = _offered_to_one_agent(api)
    callbacks.callback_accept(callback_id=body["id"], actor=agent)
    callbacks.callback_outcome(callback_id=body["id"], actor=agent, outcome="busy")
    callbacks.callback_outcome(callback_id=body["id"], actor=agent, outcome="busy")  # a retry: harmless
    assert stream_types(body["id"]).count("callback.busy") == 1

    assert dispatch.callbacks_dispatch(now=later(400)) == 1  # the second attempt, offered to them
    row = Callback.objects.get(pk=body["id"])
    assert (row.state, row.attempt) == (CallbackState.OFFERED, 2)
    with pytest.raises(callbacks.CallbackConflict):  # not accepted: no call was made (was 200, dropped)
        callbacks.callback_outcome(callback_id=body["id"], actor=agent, outcome="busy")

    callbacks.callback_accept(callback_id=body["id"], actor=agent)  # and nobody reports how it went
    day = 24 * 3600
    # Expired past the grace, and declared overdue first in the same tick (nobody looked before).
    assert dispatch.callbacks_dispatch(now=later(day + 3 * 3600)) == 2
    assert Callback.objects.get(pk=body["id"]).state == CallbackState.EXPIRED
    with pytest.raises(callbacks.CallbackConflict):  # README: an outcome after that answers 409
        callbacks.callback_outcome(callback_id=body["id"], actor=agent, outcome="busy")
    assert stream_types(body["id"]).count("callback.busy") == 1


def test_offers_follow_the_agents_status_in_the_log_while_the_presence_read_model_lags(api, settings):
    """The dispatcher read who is available from the presence read model, which a runner applies later: an
    agent who had just gone offline was offered the call (and their offer did not lapse), one who had just
    said available was not offered it, for as long as the runner lagged or stood parked."""
    leaving = online_agent()
    body = request_callback(api)
    assert dispatch.callbacks_dispatch() == 1 and offers(body["id"])[-1].data["agent_id"] == str(leaving.pk)
    settings.THREADLINE_SUBSCRIPTIONS_EAGER = False  # from here the read models stand still

    presence.agent_status_set(agent=leaving, status="busy")
    arriving = ApiTokenFactory(role=Role.AGENT)
    presence.agent_socket_open(agent=arriving)
    presence.agent_status_set(agent=arriving, status="available")

    dispatch.callbacks_dispatch()  # the holder left: the offer lapses now, and goes to who is available
    lapsed = StoredEvent.objects.get(stream=f"callback-{body['id']}", type="callback.offer_timed_out")
    assert lapsed.data["reason"] == "the agent was no longer available"
    assert offers(body["id"])[-1].data["agent_id"] == str(arriving.pk)


def test_a_window_ends_while_the_context_read_models_lag_behind_the_request(api, settings):
    """A callback whose request the context read models had not applied was skipped whole, so its window
    ending was not recorded either while they lagged or stood parked: it showed as scheduled, past its end.
    It is still offered only once they have applied the request."""
    settings.THREADLINE_SUBSCRIPTIONS_EAGER = False  # the read models stand still: not even its thread yet
    online_agent()
    body = request_callback(api, identifier="tel:+15550001111", window_end=later(60).isoformat())
    late = request_callback(api, identifier="tel:+15550002222", window_end=later(600).isoformat())

    assert dispatch.callbacks_dispatch() == 0 and offers(body["id"]) == offers(late["id"]) == []
    assert dispatch.callbacks_dispatch(now=later(61)) == 1

    assert Callback.objects.get(pk=body["id"]).state == CallbackState.EXPIRED
    (expired,) = StoredEvent.objects.filter(stream=f"callback-{body['id']}", type="callback.expired")
    assert expired.metadata["thread_id"] == body["thread_id"]
    assert expired.data["reason"] == "its window ended before an agent was free"
    assert Callback.objects.get(pk=late["id"]).state == CallbackState.SCHEDULED and offers(late["id"]) == []

    settings.THREADLINE_SUBSCRIPTIONS_EAGER = True
    subscriptions.apply_eagerly()  # they catch up
    assert dispatch.callbacks_dispatch(now=later(62)) == 1 and len(offers(late["id"])) == 1


def test_an_answer_naming_its_offer_never_lands_on_a_later_offer_to_the_same_agent(api, settings):
    """After an `hours` reschedule the same agent is offered the same attempt again: a retried decline of
    the first offer (its answer lost on the way) declined the second. Naming the offer tells them apart."""
    settings.THREADLINE_BUSINESS_HOURS = "mon-fri 08:00-20:00"
    friday = datetime(2099, 1, 2, 19, 58, tzinfo=UTC)
    body = request_callback(api, at=friday.isoformat(), window_end=(friday + timedelta(days=4)).isoformat())
    agent = online_agent()
    desk = client_for(agent)
    url = f"{CALLBACKS}/{body['id']}"
    dispatch.callbacks_dispatch(now=friday)
    first = desk.get(url).json()
    assert (first["state"], first["attempt"], first["offer"]) == ("offered", 1, 1)
    named = {"attempt": 1, "offer": 1}
    assert desk.post(f"{url}/decline", named, format="json").status_code == 200  # now is long before 2099
    dispatch.callbacks_dispatch(now=friday + timedelta(minutes=3))  # 20:01: moved to Monday 08:00
    monday = Callback.objects.get(pk=body["id"]).due_at
    dispatch.callbacks_dispatch(now=monday)
    assert (desk.get(url).json()["offer"], Callback.objects.get(pk=body["id"]).agent_id) == (2, str(agent.pk))
    before = stream_types(body["id"])

    retried = desk.post(f"{url}/decline", {**named, "reason": "busy"}, format="json")

    assert (
        retried.status_code == 200 and retried.json()["state"] == "offered" and retried.json()["offer"] == 2
    )
    assert stream_types(body["id"]) == before
    stale = desk.post(f"{url}/accept", named, format="json")
    assert stale.status_code == 409
    assert (
        "offer 1 of attempt 1 is not its current offer (offer 2 of attempt 1, offered)"
        in stale.json()["detail"]
    )
    assert stream_types(body["id"]) == before
    accepted = desk.post(f"{url}/accept", {"attempt": 1, "offer": 2}, format="json")
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted"


@pytest.mark.parametrize("named", [{"offer": 0}, {"attempt": "x"}, {"offer": 2**31}, {"attempt": 1.5}])
def test_an_offer_named_as_no_offer_can_be_is_a_400_naming_the_field(api, named):
    body, agent = _offered_to_one_agent(api)
    before = stream_types(body["id"])
    for answer in ("accept", "decline"):
        response = client_for(agent).post(f"{CALLBACKS}/{body['id']}/{answer}", named, format="json")
        assert response.status_code == 400, response.content
        assert [e["field"] for e in response.json()["errors"]] == list(named)
    assert stream_types(body["id"]) == before


def test_a_profile_nested_as_deep_as_the_log_keeps_stops_no_offer(api):
    """The offer copies the customer's profile two levels further down (data.context): one profile nested
    61 deep made its offer unstorable, which failed the whole page, every tick, for every callback."""
    from hub import storable

    deep: object = "x"
    for _ in range(storable.MAX_JSON_DEPTH - 3):
        deep = {"k": deep}
    post(api, type="customer.profile_updated", data={"preferences": {"deep": deep}})
    mine = request_callback(api)
    other = request_callback(api, identifier="tel:+15550000002", phone="+15550000002")
    online_agent(), online_agent()

    assert dispatch.callbacks_dispatch() == 2

    (offer,) = offers(mine["id"])
    assert len(offers(other["id"])) == 1
    kept = offer.data["context"]["customer"]["preferences"]["deep"]
    while isinstance(kept, dict):
        kept = kept["k"]
    assert kept == dispatch.TOO_DEEP


@requires_sqlite
@pytest.mark.django_db(transaction=True)
def test_a_tick_on_sqlite_ends_when_the_database_is_held_and_offers_on_the_next(api):
    """An offline rebuild holds SQLite's one write lock for its length: a tick waited the busy timeout (20 s,
    a worker thread held), then failed with "database is locked"; it waits as long as a claim may (2 s)."""
    from tests.hub.test_sqlite_write_lock import database_held

    online_agent()
    body = request_callback(api)

    with database_held():
        assert dispatch.callbacks_dispatch() == 0

    assert dispatch.callbacks_dispatch() == 1
    assert [o.data["callback_id"] for o in offers(body["id"])] == [body["id"]]


def _ask(api, **body):
    return api.post(CALLBACKS, {"identifier": CUSTOMER, "phone": "+15551234567", **body}, format="json")


def _london_at_noon(settings) -> None:
    # London 12:00-13:00 meets New York's calling hours (08:00-21:00) only while the US keeps summer time
    # and the UK does not yet: in 2099, 8-29 March.
    settings.THREADLINE_BUSINESS_HOURS = "daily 12:00-13:00"
    settings.THREADLINE_BUSINESS_TIMEZONE = "Europe/London"


def test_a_window_whose_first_allowed_moment_is_over_a_month_away_is_taken(api, settings):
    """The search for an allowed moment stopped 31 days after the start: this window was refused (400),
    and the same moment was accepted from a request that started three weeks later."""
    _london_at_noon(settings)
    short = _ask(
        api, at="2099-02-20T00:00:00Z", window_end="2099-03-25T00:00:00Z", timezone="America/New_York"
    )
    longer = _ask(
        api,
        at="2099-01-05T00:00:00Z",
        window_end="2099-03-25T00:00:00Z",
        timezone="America/New_York",
        identifier="tel:+15550000002",
        phone="+15550000002",
    )

    assert short.status_code == 201 and short.json()["due_at"] == "2099-03-08T12:00:00Z"
    assert longer.status_code == 201, longer.content
    assert longer.json()["due_at"] == "2099-03-08T12:00:00Z"


def test_the_dispatcher_moves_a_callback_to_its_window_first_allowed_moment_months_ahead(api, settings):
    """It expired it ("no allowed time is left in its window") with seven weeks of it left."""
    _london_at_noon(settings)
    body = _ask(api, at="2099-01-05T12:00:00Z", window_end="2099-03-25T00:00:00Z").json()  # zone unknown yet
    post(api, type="customer.profile_updated", data={"timezone": "America/New_York"})
    online_agent()

    dispatch.callbacks_dispatch(now=datetime(2099, 1, 5, 12, 0, tzinfo=UTC))

    row = Callback.objects.get(pk=body["id"])
    assert row.state == CallbackState.SCHEDULED
    assert row.due_at == datetime(2099, 3, 8, 12, 0, tzinfo=UTC)


def test_a_london_centre_calling_back_new_zealand_customers_in_march(api, settings):
    settings.THREADLINE_BUSINESS_HOURS = "mon-fri 09:00-17:00"
    settings.THREADLINE_BUSINESS_TIMEZONE = "Europe/London"

    early = _ask(
        api, at="2099-03-02T00:00:00Z", window_end="2099-05-01T00:00:00Z", timezone="Pacific/Auckland"
    )

    assert early.status_code == 201, early.content
    assert early.json()["due_at"] == "2099-04-06T08:00:00Z"


def test_the_last_handler_not_free_sends_the_offer_to_a_skill_match_not_an_earlier_handler(api):
    """The last handler was looked for among the free agents only: with them busy, the agent who handled the
    thread before them was offered it, as `last_agent`."""
    thread = post(api, data={"channel": "sms", "text": "my bill", "topic": "billing"})["thread_id"]
    earlier, last, skilled = online_agent(), online_agent(), online_agent("billing")
    for agent in (earlier, last):
        note = client_for(agent).post(f"/api/v1/threads/{thread}/notes", {"text": "n"}, format="json")
        assert note.status_code == 201
    presence.agent_status_set(agent=last, status="busy")
    body = request_callback(api)

    dispatch.callbacks_dispatch()

    (offer,) = offers(body["id"])
    assert (offer.data["agent_id"], offer.data["route"]) == (str(skilled.pk), "skills")
    presence.agent_status_set(agent=last, status="available")
    callbacks.callback_decline(callback_id=body["id"], actor=skilled)
    dispatch.callbacks_dispatch()
    assert (offers(body["id"])[-1].data["agent_id"], offers(body["id"])[-1].data["route"]) == (
        str(last.pk),
        "last_agent",
    )


@pytest.mark.parametrize("left_out", ["at", "window_end"])
def test_a_key_reused_for_a_request_that_leaves_its_time_out_is_another_request(api, left_out):
    """A retry without `at` (as soon as possible) or `window_end` (the default window) was answered 201 with
    the callback due in 2099: the integration thought it had asked for a call now."""
    key = {"HTTP_IDEMPOTENCY_KEY": f"cb-{left_out}"}
    body = {
        "identifier": CUSTOMER,
        "phone": "+15551234567",
        "at": "2099-01-01T10:00:00Z",
        "window_end": "2099-01-01T18:00:00Z",
    }
    first = api.post(CALLBACKS, body, format="json", **key)
    again = api.post(CALLBACKS, {k: v for k, v in body.items() if k != left_out}, format="json", **key)

    assert first.status_code == 201, first.content
    assert again.status_code == 409, again.content
    assert Callback.objects.count() == 1


@pytest.mark.parametrize("at", [None, "now"])
def test_a_retry_sent_while_the_first_request_is_still_running_answers_its_callback(monkeypatch, at):
    """A retry that read the log before the first request committed decided its start and window from its
    own time, and was a 409 ("send a new key"): following that advice called the customer twice. The first
    request is run here while the retry waits for the customer's lock, as it would on another connection."""
    token = ApiTokenFactory(role=Role.AGENT)
    t0 = timezone.now()
    asked = callbacks.RequestInput(identifier=CUSTOMER, phone="+15551234567", at=t0 if at else None)
    real = callbacks.placement_view_locked
    made = {}

    def first_request_commits_meanwhile(events):
        monkeypatch.setattr(callbacks, "placement_view_locked", real)
        made["first"] = callbacks.callback_request(actor=token, request=asked, idempotency_key="k", now=t0)
        return real(events)

    monkeypatch.setattr(callbacks, "placement_view_locked", first_request_commits_meanwhile)
    retried = callbacks.callback_request(
        actor=token, request=asked, idempotency_key="k", now=t0 + timedelta(seconds=2)
    )

    assert retried.pk == made["first"].pk
    assert Callback.objects.count() == 1


def test_a_supervisors_note_does_not_make_them_the_threads_handler(api):
    thread = post(api, data={"channel": "sms", "text": "my bill", "topic": "billing"})["thread_id"]
    handler, _skilled = online_agent(), online_agent("billing")
    supervisor = ApiTokenFactory(role=Role.SUPERVISOR)
    for who, text in ((handler, "called, will retry"), (supervisor, "please follow up")):
        assert (
            client_for(who).post(f"/api/v1/threads/{thread}/notes", {"text": text}, format="json").status_code
            == 201
        )
    body = request_callback(api)

    dispatch.callbacks_dispatch()

    (offer,) = offers(body["id"])
    assert (offer.data["agent_id"], offer.data["route"]) == (str(handler.pk), "last_agent")


def test_the_agent_a_thread_is_assigned_to_is_its_handler(api):
    thread = post(api, data={"channel": "sms", "text": "my bill", "topic": "billing"})["thread_id"]
    first, owner, _skilled = online_agent(), online_agent(), online_agent("billing")
    note = client_for(first).post(f"/api/v1/threads/{thread}/notes", {"text": "looked at it"}, format="json")
    assert note.status_code == 201
    assign = {"agent_id": str(owner.pk)}
    assigned = client_for(ApiTokenFactory(role=Role.SUPERVISOR)).post(
        f"/api/v1/threads/{thread}/assign", assign, format="json"
    )
    assert assigned.status_code == 201, assigned.content
    presence.agent_status_set(agent=first, status="busy")
    body = request_callback(api)

    dispatch.callbacks_dispatch()

    (offer,) = offers(body["id"])
    assert (offer.data["agent_id"], offer.data["route"]) == (str(owner.pk), "last_agent")
