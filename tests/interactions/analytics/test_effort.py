"""Effort from the log: three threads whose contacts, channel switches, transfers, waits and effort index are
worked out by hand, set beside the CES their customers gave, with how well the two agree."""

from __future__ import annotations

import pytest
from django.utils import timezone

from tests.interactions.analytics.test_handling import at, z
from tests.interactions.analytics.test_surveys import BEN, CAL, measures
from tests.interactions.helpers import post

pytestmark = pytest.mark.django_db
EFFORT = "/api/v1/analytics/effort"
DAY = {"from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z"}
ANN, ANN_MAIL = "tel:+15550000001", "mailto:ann@example.com"


@pytest.fixture
def efforts(api, supervisor_api, monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: at("23:59"))

    def resolve(clock: str, thread: str) -> None:
        monkeypatch.setattr(timezone, "now", lambda: at(clock))
        assert supervisor_api.post(f"/api/v1/threads/{thread}/resolve").status_code == 201
        monkeypatch.setattr(timezone, "now", lambda: at("23:59"))

    # Ann: SMS, then e-mail (a switch), then a call (another switch) transferred once; answered an hour after
    # her first message. 2 repeats x 15 + 2 switches x 15 + 1 transfer x 10 + 60 min / 12 = 75. CES 2 after.
    one = post(api, subject=ANN, time=z("09:00"),
               data={"channel": "sms", "text": "hi", "identifiers": [ANN_MAIL]})["thread_id"]  # fmt: skip
    assert (
        post(api, subject=ANN_MAIL, time=z("09:30"), data={"channel": "email", "text": "again"})["thread_id"]
        == one
    )
    call = {"direction": "inbound", "conversation_ref": "c-1"}
    post(api, subject=ANN, type="call.started", time=z("09:45"), data=call)
    post(api, subject=ANN, type="call.transferred", time=z("09:46"), data={**call, "to_queue": "tier-2"})
    post(api, subject=ANN, type="call.ended", time=z("09:50"), data={**call, "duration_seconds": 300})
    post(
        api, subject=ANN_MAIL, type="message.sent", time=z("10:00"), data={"channel": "email", "text": "done"}
    )
    resolve("10:30", one)
    post(api, subject=ANN, type="survey.answered", time=z("11:00"),
         data={"channel": "sms", "metric": "ces", "score": 2, "thread_id": one})  # fmt: skip

    # Ben: one chat, answered in 6 minutes (no point), CES 7 given before the thread was resolved: index 0.
    two = post(api, subject=BEN, time=z("09:00"), data={"channel": "chat", "text": "q"})["thread_id"]
    post(api, subject=BEN, type="message.sent", time=z("09:06"), data={"channel": "chat", "text": "a"})
    post(api, subject=BEN, type="survey.answered", time=z("09:10"),
         data={"channel": "chat", "metric": "ces", "score": 7, "thread_id": two})  # fmt: skip
    resolve("09:20", two)

    # Cal: SMS answered in 24 minutes (2 points), writes again (a repeat): 15 + 2 = 17. CES 5.
    three = post(api, subject=CAL, time=z("12:00"), data={"channel": "sms", "text": "x"})["thread_id"]
    post(api, subject=CAL, type="message.sent", time=z("12:24"), data={"channel": "sms", "text": "y"})
    post(api, subject=CAL, time=z("12:30"), data={"channel": "sms", "text": "z"})
    resolve("13:00", three)
    post(api, subject=CAL, type="survey.answered", time=z("13:30"),
         data={"channel": "sms", "metric": "ces", "score": 5, "thread_id": three})  # fmt: skip


@pytest.mark.usefixtures("efforts")
def test_effort_by_hand_beside_ces(supervisor_api):
    (total,) = measures(supervisor_api, path=EFFORT, **DAY)["totals"]
    # Indexes 75, 0, 17; CES 2, 7, 5. Agreement: Pearson's r of (75, 0, 17) and 8 - CES = (6, 1, 3):
    # n = 3, Sx = 92, Sy = 10, Sxx = 5914, Syy = 46, Sxy = 501;
    # r = (3 x 501 - 92 x 10) / sqrt((3 x 5914 - 92^2) x (3 x 46 - 10^2)) = 583 / sqrt(9278 x 38) = 0.982.
    assert total == {
        "group": None, "threads": 3,
        "contacts": 2.0,  # (3 + 1 + 2) / 3
        "switches": 0.67, "transfers": 0.33,
        "repeats": 1.0,  # (2 + 0 + 1) / 3
        "effort_index": 30.67,  # (75 + 0 + 17) / 3
        "with_ces": 3, "effort_index_with_ces": 30.67, "ces_mean": 4.67, "agreement": 0.982,
    }  # fmt: skip


@pytest.mark.usefixtures("efforts")
def test_effort_by_hour_and_channel(supervisor_api):
    rows = measures(supervisor_api, path=EFFORT, granularity="hour", **DAY)["rows"]
    # Each thread counts in the hour of its first resolution.
    assert [(r["bucket"][11:16], r["threads"], r["effort_index"]) for r in rows] == [
        ("09:00", 1, 0.0),
        ("10:00", 1, 75.0),
        ("13:00", 1, 17.0),
    ]
    channels = {
        r["group"]: r for r in measures(supervisor_api, path=EFFORT, group_by="channel", **DAY)["totals"]
    }
    # A thread's channel is that of its first contact: Ann's and Cal's SMS, Ben's chat.
    assert (channels["sms"]["threads"], channels["sms"]["effort_index"], channels["chat"]["threads"]) == (
        2,
        46.0,
        1,
    )
    assert channels["chat"]["agreement"] is None  # one pair: no spread to agree on


@pytest.mark.usefixtures("efforts")
def test_a_contact_after_the_first_resolution_changes_no_effort_taken(api, supervisor_api):
    post(api, subject=CAL, time=z("14:00"), data={"channel": "whatsapp", "text": "and another thing"})
    (total,) = measures(supervisor_api, path=EFFORT, **DAY)["totals"]
    assert (total["threads"], total["effort_index"]) == (3, 30.67)
