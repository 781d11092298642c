"""The follow-up queue and commands over REST: list, close, request a callback."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from hub.models import StoredEvent
from interactions.callbacks.models import Callback
from interactions.followups import breach
from interactions.followups.models import Followup
from tests.conftest import client_for
from tests.factories import ApiTokenFactory
from tests.interactions.followups.helpers import survey
from tests.interactions.helpers import post

pytestmark = pytest.mark.django_db
LIST = "/api/v1/followups"


def close_url(followup_id) -> str:
    return f"/api/v1/followups/{followup_id}/close"


def opened(api, n: int = 1, **overrides) -> list[Followup]:
    for i in range(n):
        survey(api, "csat", 1, subject=f"tel:+1555000{i:04d}", **overrides)
    return list(Followup.objects.order_by("opened_at"))


def test_supervisors_see_open_follow_ups_oldest_first_with_the_time_left(api, supervisor_api, settings):
    # Received in this order, each with an SLA of its own (the SLA in force when each arrived).
    for i, sla in enumerate([3000, 600, 1800]):
        settings.THREADLINE_FOLLOWUP_SLA_SECONDS = float(sla)
        survey(api, "nps", 2, subject=f"tel:+1555000{i:04d}", data={"comment": f"c{i}"})

    response = supervisor_api.get(LIST)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 3
    results = body["results"]
    assert [r["comment"] for r in results] == ["c0", "c1", "c2"]  # oldest first, whatever is due first
    left = [r["seconds_left"] for r in results]
    assert 2990 < left[0] <= 3000 and 590 < left[1] <= 600 and 1790 < left[2] <= 1800
    first = results[0]
    assert first["state"] == "open" and first["metric"] == "nps" and first["score"] == 2
    assert first["reason"].startswith("NPS 2 is a detractor")
    survey_event = StoredEvent.objects.get(type="survey.answered", data__comment="c0")
    assert first["survey"]["position"] == survey_event.position
    assert first["survey"]["id"] == survey_event.event_id
    assert first["thread_id"] == survey_event.metadata["thread_id"]
    assert first["customer_id"] == survey_event.metadata["customer_id"]
    assert response["Threadline-Position"]


def test_an_overdue_follow_up_shows_negative_seconds_left_and_once_breached_is_listed_as_breached(
    api, supervisor_api, settings
):
    settings.THREADLINE_FOLLOWUP_SLA_SECONDS = 0.001
    [_row] = opened(api)
    [shown] = supervisor_api.get(LIST).json()["results"]
    assert shown["seconds_left"] < 0 and shown["state"] == "open"  # not recorded as breached yet

    assert breach.followups_breach() == 1

    assert supervisor_api.get(LIST).json()["count"] == 0
    [shown] = supervisor_api.get(LIST, {"state": "breached"}).json()["results"]
    assert shown["state"] == "breached" and shown["breached_at"] is not None and shown["seconds_left"] < 0


def test_the_list_pages_like_the_other_lists(api, supervisor_api):
    opened(api, 3)
    page = supervisor_api.get(LIST, {"limit": 2}).json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    rest = supervisor_api.get(LIST, {"limit": 2, "offset": 2}).json()
    assert len(rest["results"]) == 1
    assert supervisor_api.get(LIST, {"limit": 0}).status_code == 400


@pytest.mark.parametrize("state", ["", "shut", "OPEN"])
def test_an_unknown_state_is_a_400_naming_it(supervisor_api, state):
    response = supervisor_api.get(LIST, {"state": state})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == ["state"]


@pytest.mark.parametrize("role", ["agent", "integration"])
def test_only_supervisors_and_admins_read_the_queue(role):
    response = client_for(ApiTokenFactory(role=role)).get(LIST)
    assert response.status_code == 403
    assert client_for(ApiTokenFactory(role="admin")).get(LIST).status_code == 200


def test_an_agent_closes_a_follow_up_with_what_was_done(api, agent_api, agent_token, supervisor_api):
    [row] = opened(api)

    response = agent_api.post(close_url(row.pk), {"action": "called_back", "note": "sorted"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["state"], body["action"], body["note"]) == ("closed", "called_back", "sorted")
    assert body["closed_by"] == str(agent_token.pk) and body["seconds_left"] is None
    closed = StoredEvent.objects.get(type="followup.closed")
    assert int(response["Threadline-Position"]) == closed.position
    assert closed.stream == f"followup-{row.pk}" and closed.metadata["thread_id"] == str(row.thread_id)
    assert closed.data == {
        "followup_id": str(row.pk),
        "action": "called_back",
        "note": "sorted",
        "agent_id": str(agent_token.pk),
        "breached": False,
    }
    assert supervisor_api.get(LIST).json()["count"] == 0
    assert supervisor_api.get(LIST, {"state": "closed"}).json()["count"] == 1


def test_closing_a_closed_follow_up_is_a_409_and_writes_nothing(api, agent_api):
    [row] = opened(api)
    assert agent_api.post(close_url(row.pk), {"action": "explained"}, format="json").status_code == 201
    count = StoredEvent.objects.count()

    again = agent_api.post(close_url(row.pk), {"action": "explained"}, format="json")

    assert again.status_code == 409
    assert again["Content-Type"] == "application/problem+json"
    assert again.json()["type"].endswith("/followup-conflict")
    assert StoredEvent.objects.count() == count


def test_closing_an_unknown_follow_up_is_a_404(agent_api):
    response = agent_api.post(close_url(uuid.uuid4()), {"action": "explained"}, format="json")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "action"),
        ({"action": "ignored"}, "action"),
        ({"action": None}, "action"),
        ({"action": "explained", "note": "x" * 2001}, "note"),
        ({"action": "explained", "note": {"why": "x"}}, "note"),
        ({"action": ["explained"]}, "action"),
    ],
)
def test_a_bad_close_is_a_400_naming_the_field_and_writes_nothing(api, agent_api, body, field):
    [row] = opened(api)
    count = StoredEvent.objects.count()

    response = agent_api.post(close_url(row.pk), body, format="json")

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]]
    assert StoredEvent.objects.count() == count
    assert Followup.objects.get().state == "open"


def test_an_integration_may_not_close_a_follow_up(api):
    [row] = opened(api)
    response = api.post(close_url(row.pk), {"action": "explained"}, format="json")
    assert response.status_code == 403
    assert Followup.objects.get().state == "open"


@pytest.mark.parametrize("role", ["agent", "supervisor", "admin"])
def test_people_may_close_any_follow_up_they_may_see(api, role):
    """An agent reads every customer's context (access.rules), so any follow-up is theirs to close."""
    [row] = opened(api)
    response = client_for(ApiTokenFactory(role=role)).post(
        close_url(row.pk), {"action": "credited"}, format="json"
    )
    assert response.status_code == 201


def test_a_close_sent_again_with_its_idempotency_key_is_done_once(api, agent_api):
    [row] = opened(api)
    first = agent_api.post(
        close_url(row.pk), {"action": "credited"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    again = agent_api.post(
        close_url(row.pk), {"action": "credited"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )

    assert first.status_code == again.status_code == 201, again.content
    assert again.json() == first.json()
    assert again["Threadline-Position"] == first["Threadline-Position"]
    assert StoredEvent.objects.filter(type="followup.closed").count() == 1


def test_the_same_key_for_another_close_is_a_409(api, agent_api):
    one, two = opened(api, 2)
    assert (
        agent_api.post(close_url(one.pk), {"action": "credited"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    ).status_code == 201
    other_action = agent_api.post(
        close_url(one.pk), {"action": "explained"}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    other_followup = agent_api.post(
        close_url(two.pk), {"action": "credited"}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert other_action.status_code == other_followup.status_code == 409
    assert Followup.objects.get(pk=two.pk).state == "open"


def test_a_breached_follow_up_can_still_be_closed(api, agent_api):
    [row] = opened(api)
    assert breach.followups_breach(now=row.due_at) == 1

    response = agent_api.post(close_url(row.pk), {"action": "escalated"}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["state"] == "closed" and response.json()["breached_at"] is not None
    assert StoredEvent.objects.get(type="followup.closed").data["breached"] is True
    assert breach.followups_breach(now=row.due_at + timedelta(days=1)) == 0


def test_a_callback_requested_for_a_follow_up_goes_through_the_callback_flow_and_is_linked(
    api, agent_api, agent_token, supervisor_api
):
    [row] = opened(api)
    url = f"/api/v1/followups/{row.pk}/callback"

    response = agent_api.post(url, {"timezone": "Europe/London"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    callback = Callback.objects.get()
    assert body["callback"]["id"] == str(callback.pk)
    assert str(callback.thread_id) == str(row.thread_id)  # on the follow-up's thread
    assert callback.phone == "+15550000000"  # the survey's tel: subject
    assert callback.reason.startswith("Follow-up: CSAT 1")
    assert body["followup"]["state"] == "open"  # open until someone closes it
    assert [c["callback_id"] for c in body["followup"]["callbacks"]] == [str(callback.pk)]
    link = StoredEvent.objects.get(type="followup.callback_requested")
    assert link.data == {
        "followup_id": str(row.pk),
        "callback_id": str(callback.pk),
        "agent_id": str(agent_token.pk),
    }
    assert int(response["Threadline-Position"]) == link.position
    assert StoredEvent.objects.filter(
        type="callback.requested", metadata__thread_id=str(row.thread_id)
    ).exists()
    [listed] = supervisor_api.get(LIST).json()["results"]
    assert listed["callbacks"][0]["callback_id"] == str(callback.pk)


def test_a_callback_request_sent_again_with_its_key_requests_one_callback(api, agent_api):
    [row] = opened(api)
    url = f"/api/v1/followups/{row.pk}/callback"
    first = agent_api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="cb-1")
    again = agent_api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="cb-1")
    assert first.status_code == again.status_code == 201, again.content
    # The same answer, but for the time left: the clock moved on.
    assert again.json()["followup"] | {"seconds_left": None} == first.json()["followup"] | {
        "seconds_left": None
    }
    assert again.json()["callback"] == first.json()["callback"]
    assert again["Threadline-Position"] == first["Threadline-Position"]
    assert Callback.objects.count() == 1
    assert StoredEvent.objects.filter(type="followup.callback_requested").count() == 1


def test_a_bad_callback_window_is_refused_naming_the_field_and_writes_nothing(api, agent_api):
    [row] = opened(api)
    count = StoredEvent.objects.count()
    url = f"/api/v1/followups/{row.pk}/callback"
    past = (timezone.now() - timedelta(hours=2)).isoformat()
    for body, field in [
        ({"at": past}, "at"),
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"at": "soon"}, "at"),
    ]:
        response = agent_api.post(url, body, format="json")
        assert response.status_code == 400, response.content
        assert field in [e["field"] for e in response.json()["errors"]], response.content
    assert StoredEvent.objects.count() == count


def test_a_survey_from_an_address_that_cannot_be_called_needs_a_phone(api, agent_api):
    survey(api, "csat", 1, subject="mailto:ann@example.com")
    row = Followup.objects.get()
    url = f"/api/v1/followups/{row.pk}/callback"
    refused = agent_api.post(url, {}, format="json")
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "phone"
    assert agent_api.post(url, {"phone": "+15550001111"}, format="json").status_code == 201
    assert Callback.objects.get().phone == "+15550001111"


def test_no_callback_for_a_closed_follow_up(api, agent_api):
    [row] = opened(api)
    agent_api.post(close_url(row.pk), {"action": "explained"}, format="json")
    response = agent_api.post(f"/api/v1/followups/{row.pk}/callback", {}, format="json")
    assert response.status_code == 409
    assert not Callback.objects.exists()


def test_an_integration_may_not_request_a_follow_up_callback(api):
    [row] = opened(api)
    assert api.post(f"/api/v1/followups/{row.pk}/callback", {}, format="json").status_code == 403


def test_each_step_of_a_follow_up_is_on_its_threads_timeline(
    api, agent_api, agent_token, supervisor_api, monkeypatch
):
    [row] = opened(api)
    assert agent_api.post(f"/api/v1/followups/{row.pk}/callback", {}, format="json").status_code == 201
    assert breach.followups_breach(now=row.due_at) == 1
    monkeypatch.setattr(timezone, "now", lambda: row.due_at + timedelta(minutes=5))  # closed after the breach
    closed = agent_api.post(close_url(row.pk), {"action": "called_back", "note": "refunded"}, format="json")
    assert closed.status_code == 201, closed.content

    timeline = supervisor_api.get(f"/api/v1/threads/{row.thread_id}").json()["timeline"]
    steps = [(e["type"], e["text"], e["agent_id"]) for e in timeline if e["type"].startswith("followup.")]
    due = StoredEvent.objects.get(type="followup.opened").data["due_at"]
    agent = str(agent_token.pk)
    assert steps == [
        ("followup.opened", f"Follow-up opened: {row.reason}; due {due}", None),
        ("followup.callback_requested", f"Callback requested for the follow-up by agent {agent}", agent),
        ("followup.breached", f"Follow-up past its SLA: it was due at {due}", None),
        (
            "followup.closed",
            f"Follow-up closed (after its SLA) by agent {agent}, called back: refunded",
            agent,
        ),
    ]
    # The survey answer the follow-up is about is on the same timeline, before it.
    types = [e["type"] for e in timeline]
    assert types.index("survey.answered") < types.index("followup.opened")


def test_a_follow_up_whose_callback_reached_the_customer_closes_itself_once(api, agent_api):
    from interactions.callbacks import dispatch
    from interactions.callbacks import services as callbacks
    from tests.interactions.test_callbacks import online_agent

    [row] = opened(api)
    caller = online_agent()
    asked = agent_api.post(f"/api/v1/followups/{row.pk}/callback", {}, format="json")
    assert asked.status_code == 201, asked.content
    callback_id = asked.json()["callback"]["id"]
    dispatch.callbacks_dispatch(now=timezone.now())
    callbacks.callback_accept(callback_id=callback_id, actor=caller)
    callbacks.callback_outcome(callback_id=callback_id, actor=caller, outcome="no_answer")
    assert breach.followups_close_reached() == 0  # not reached yet: it stays open

    retry = Callback.objects.get(pk=callback_id)
    dispatch.callbacks_dispatch(now=retry.due_at)
    callbacks.callback_accept(callback_id=callback_id, actor=caller)
    callbacks.callback_outcome(callback_id=callback_id, actor=caller, outcome="completed")

    assert breach.followups_close_reached() == 1
    assert breach.followups_close_reached() == 0  # a second tick: nothing
    row.refresh_from_db()
    assert (row.state, row.action, row.closed_by) == ("closed", "called_back", str(caller.pk))
    (closed,) = StoredEvent.objects.filter(type="followup.closed")
    assert closed.data["note"] == f"Callback {callback_id} reached the customer"
    assert closed.data["breached"] is False
    late = agent_api.post(close_url(row.pk), {"action": "explained"}, format="json")
    assert late.status_code == 409  # closed already, by the call


def test_one_idempotency_key_for_callbacks_on_two_follow_ups_of_one_thread_is_a_409(api, agent_api):
    """Two CSAT 1s on one thread open two follow-ups whose callbacks would be the same request but for the
    follow-up: a key used for the first is refused for the second, not answered with the first's callback."""
    subject = "tel:+15550001111"
    post(api, subject=subject, time=timezone.now().isoformat(), data={"channel": "sms", "text": "hello"})
    first, second = survey(api, subject=subject), survey(api, subject=subject)
    assert first["thread_id"] == second["thread_id"]
    one, two = Followup.objects.order_by("opened_at")
    headers = {"HTTP_IDEMPOTENCY_KEY": "call-them-back"}

    asked = agent_api.post(f"/api/v1/followups/{one.pk}/callback", {}, format="json", **headers)
    again = agent_api.post(f"/api/v1/followups/{two.pk}/callback", {}, format="json", **headers)

    assert asked.status_code == 201, asked.content
    assert again.status_code == 409 and again["Content-Type"] == "application/problem+json", again.content
    two.refresh_from_db()
    assert two.callbacks == [] and StoredEvent.objects.filter(type="followup.callback_requested").count() == 1
