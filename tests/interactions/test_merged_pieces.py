"""Where issue 16's pieces meet: a reopened thread is not idled again at once, the reopen of a thread that
was only idle is no reopen in the measures, and a customer's rating of a resolved thread (which placement
puts on a thread of its own) takes no first-contact resolution back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.models import StoredEvent
from interactions.models import Thread
from interactions.threads import idling
from tests.interactions.followups.helpers import survey
from tests.interactions.helpers import post

pytestmark = pytest.mark.django_db
JANE = "mailto:jane@example.com"
THREADS = "/api/v1/threads"
HANDLING = "/api/v1/analytics/handling"


def ago(**delta) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


def test_a_reopened_idle_thread_stays_open_a_window_before_it_idles_again(api, supervisor_api):
    thread = post(api, subject=JANE, time=ago(hours=80), data={"channel": "chat", "text": "hi"})["thread_id"]
    assert idling.threads_idle(now=datetime.now(UTC)) == 1
    assert (
        supervisor_api.post(f"{THREADS}/{thread}/reopen", {"reason": "on it"}, format="json").status_code
        == 201
    )

    assert idling.threads_idle(now=datetime.now(UTC) + timedelta(seconds=60)) == 0
    assert Thread.objects.get(pk=thread).status == "open"
    assert idling.threads_idle(now=datetime.now(UTC) + timedelta(hours=73)) == 1  # a window after the reopen
    assert StoredEvent.objects.filter(stream=f"thread-{thread}", type="thread.idled").count() == 2


def test_a_thread_resolved_days_ago_and_reopened_is_not_idled_a_minute_later(api, supervisor_api):
    thread = post(api, subject=JANE, time=ago(hours=100), data={"channel": "chat", "text": "hi"})["thread_id"]
    assert supervisor_api.post(f"{THREADS}/{thread}/resolve").status_code == 201
    assert supervisor_api.post(f"{THREADS}/{thread}/reopen").status_code == 201

    assert idling.threads_idle(now=datetime.now(UTC) + timedelta(seconds=60)) == 0
    assert Thread.objects.get(pk=thread).status == "open"


def test_reopening_a_thread_that_was_only_idle_is_no_reopen_in_the_measures(api, supervisor_api):
    start = datetime.now(UTC) - timedelta(hours=80)
    thread = post(api, subject=JANE, time=start.isoformat(), data={"channel": "chat", "text": "hi"})[
        "thread_id"
    ]
    assert idling.threads_idle(now=datetime.now(UTC)) == 1
    assert supervisor_api.post(f"{THREADS}/{thread}/reopen").status_code == 201
    span = {
        "from": (start - timedelta(days=1)).isoformat(),
        "to": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
    }

    totals = supervisor_api.get(HANDLING, span).json()["totals"]
    assert sum(t["reopens"] for t in totals) == 0  # nothing counted at all: it was never resolved


def test_a_rating_of_a_resolved_thread_takes_no_first_contact_resolution_back(api, supervisor_api):
    tel = "tel:+15551234567"
    start = datetime.now(UTC) - timedelta(minutes=30)
    thread = post(api, subject=tel, time=start.isoformat(),
                  data={"channel": "sms", "text": "hi", "topic": "billing"})["thread_id"]  # fmt: skip
    assert supervisor_api.post(f"{THREADS}/{thread}/resolve").status_code == 201
    span = {
        "from": (start - timedelta(hours=2)).isoformat(),
        "to": (datetime.now(UTC) + timedelta(hours=2)).isoformat(),
    }
    assert supervisor_api.get(HANDLING, span).json()["totals"][0]["first_contact_resolutions"] == 1

    rated = survey(api, "csat", 5, subject=tel, data={"topic": "billing"})
    assert rated["thread_id"] != thread  # placement opened a thread for the answer

    assert supervisor_api.get(HANDLING, span).json()["totals"][0]["first_contact_resolutions"] == 1
    # The customer writing again about billing, on a thread of its own, does take it back.
    post(api, subject=tel, time=datetime.now(UTC).isoformat(),
         data={"channel": "sms", "text": "billing again", "topic": "billing"})  # fmt: skip
    assert supervisor_api.get(HANDLING, span).json()["totals"][0]["first_contact_resolutions"] == 0
