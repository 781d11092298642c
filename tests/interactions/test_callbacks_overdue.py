"""An accepted callback with no outcome: `callback.outcome_overdue` for supervisors, once per attempt,
THREADLINE_CALLBACK_OUTCOME_OVERDUE_MINUTES after it was accepted; the expiry after the window still follows.

Time is passed to the dispatcher explicitly (`now=`), as in test_callbacks.
"""

from __future__ import annotations

import pytest

from hub import log
from hub.models import StoredEvent
from interactions.callbacks import dispatch
from interactions.callbacks import services as callbacks
from interactions.followups.services import CallbackWindow, followup_callback
from interactions.models import Callback, CallbackState, TimelineEntry
from interactions.topics.routing import event_topics
from tests.interactions.followups.test_api import opened
from tests.interactions.test_callbacks import (
    CALLBACKS,
    _offered_to_one_agent,
    later,
    online_agent,
    request_callback,
    stream_types,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _overdue_after_30_minutes(settings):
    settings.THREADLINE_CALLBACK_OUTCOME_OVERDUE_MINUTES = 30
    settings.THREADLINE_CALLBACK_OUTCOME_GRACE_HOURS = 2


def test_overdue_once_at_the_configured_time_after_acceptance_and_not_before(api, supervisor_api):
    body, agent = _offered_to_one_agent(api)
    callbacks.callback_accept(callback_id=body["id"], actor=agent)
    accepted_at = Callback.objects.get(pk=body["id"]).accepted_at
    assert accepted_at is not None

    assert dispatch.callbacks_dispatch(now=later(29 * 60)) == 0
    assert dispatch.callbacks_dispatch(now=later(31 * 60)) == 1
    assert dispatch.callbacks_dispatch(now=later(40 * 60)) == 0  # once
    assert dispatch.callbacks_dispatch(now=later(50 * 60)) == 0

    assert stream_types(body["id"]).count("callback.outcome_overdue") == 1
    event = StoredEvent.objects.get(stream=f"callback-{body['id']}", type="callback.outcome_overdue")
    assert event.event_id == f"{body['id']}/1/outcome_overdue"
    assert event.data["agent_id"] == str(agent.pk) and event.data["overdue_minutes"] == 30
    # Supervisors' topic (`all`), the agent's and the thread's.
    topics = event_topics(log.read_after(event.position - 1, limit=1)[0])
    assert {"all", f"agent:{agent.pk}", f"thread:{body['thread_id']}"} <= topics
    assert "followups" not in topics and "followup_id" not in event.data  # not asked for by a follow-up

    row = Callback.objects.get(pk=body["id"])
    assert row.state == CallbackState.ACCEPTED and row.overdue_at is not None  # an outcome may still come
    shown = supervisor_api.get(f"{CALLBACKS}/{body['id']}").json()
    assert shown["overdue_at"] is not None and shown["accepted_at"] is not None
    entry = TimelineEntry.objects.get(thread_id=body["thread_id"], type="callback.outcome_overdue")
    assert entry.channel == "callback" and "no outcome" in entry.text

    # The agent reports it after all: accepted, completed.
    callbacks.callback_outcome(callback_id=body["id"], actor=agent, outcome="completed")
    assert Callback.objects.get(pk=body["id"]).state == CallbackState.COMPLETED


def test_not_overdue_once_an_outcome_is_recorded(api):
    body, agent = _offered_to_one_agent(api)
    callbacks.callback_accept(callback_id=body["id"], actor=agent)
    callbacks.callback_outcome(callback_id=body["id"], actor=agent, outcome="completed")

    assert dispatch.callbacks_dispatch(now=later(31 * 60)) == 0
    assert "callback.outcome_overdue" not in stream_types(body["id"])
    assert Callback.objects.get(pk=body["id"]).overdue_at is None


def test_each_attempt_accepted_without_an_outcome_is_overdue_once(api):
    body, agent = _offered_to_one_agent(api)
    callbacks.callback_accept(callback_id=body["id"], actor=agent)
    assert dispatch.callbacks_dispatch(now=later(31 * 60)) == 1
    callbacks.callback_outcome(callback_id=body["id"], actor=agent, outcome="busy")  # a retry
    assert Callback.objects.get(pk=body["id"]).overdue_at is not None  # the first attempt's

    dispatch.callbacks_dispatch(now=later(60 * 60))  # the second attempt offered
    callbacks.callback_accept(callback_id=body["id"], actor=agent)
    assert Callback.objects.get(pk=body["id"]).overdue_at is None
    # Accepted now (the services read the clock; only the dispatcher is told the time).
    assert dispatch.callbacks_dispatch(now=later(29 * 60)) == 0
    assert dispatch.callbacks_dispatch(now=later(31 * 60)) == 1
    ids = StoredEvent.objects.filter(type="callback.outcome_overdue").values_list("event_id", flat=True)
    assert sorted(ids) == [f"{body['id']}/1/outcome_overdue", f"{body['id']}/2/outcome_overdue"]


def test_an_overdue_call_still_expires_after_its_window_and_the_grace(api):
    agent = online_agent()
    body = request_callback(api, window_end=later(600).isoformat())
    dispatch.callbacks_dispatch()
    callbacks.callback_accept(callback_id=body["id"], actor=agent)

    assert dispatch.callbacks_dispatch(now=later(31 * 60)) == 1  # overdue
    assert dispatch.callbacks_dispatch(now=later(600 + 7100)) == 0  # the grace has not passed
    assert dispatch.callbacks_dispatch(now=later(600 + 7300)) == 1  # expired
    assert stream_types(body["id"])[-2:] == ["callback.outcome_overdue", "callback.expired"]
    assert Callback.objects.get(pk=body["id"]).state == CallbackState.EXPIRED


def test_the_overdue_call_of_a_follow_ups_callback_names_it_and_reaches_the_follow_up_queue(api):
    # A follow-up's callback is the closed loop's promise to the customer: the supervisors watching the
    # follow-up queue (`followups`) hear when its accepted call has no outcome, not only those on `all`.
    [followup] = opened(api)
    agent = online_agent()
    callback = followup_callback(followup_id=followup.pk, actor=agent, window=CallbackWindow()).callback
    dispatch.callbacks_dispatch()
    callbacks.callback_accept(callback_id=callback.pk, actor=agent)

    assert dispatch.callbacks_dispatch(now=later(31 * 60)) == 1

    event = StoredEvent.objects.get(stream=f"callback-{callback.pk}", type="callback.outcome_overdue")
    assert event.data["followup_id"] == str(followup.pk) and event.data["agent_id"] == str(agent.pk)
    topics = event_topics(log.read_after(event.position - 1, limit=1)[0])
    assert {"followups", "all", f"agent:{agent.pk}", f"thread:{followup.thread_id}"} <= topics
