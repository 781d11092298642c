"""Journeys: three hand-built threads whose steps, transitions, bounces, dead-ends and choke points are worked
out by hand below (README "Journeys"), read back over the API by topic, by hour and as CSV.

- Ann (gold), billing: chats with self-service at 09:00 (answered by the bot at 09:01) and again at 09:05,
  then calls at 09:20 (an assisted contact: her self-service bounced, and the call answers her chat after
  15 minutes); the call is transferred at 09:22, ends at 09:30, and the thread is resolved.
- Ben, billing: texts at 10:00, writes on WhatsApp at 11:30 with no answer yet, and is answered at 12:00,
  two hours after his first message: past the 60-minute SLA.
- Cal, delivery: calls at 13:00 and hangs up before anyone answers, texts at 13:05, and nobody ever answers;
  the thread goes idle three days later.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from django.utils import timezone

from interactions.analytics.measures import median_of_bins
from interactions.analytics.models import GAP_BINS
from interactions.followups.models import Followup
from interactions.threads import idling
from tests.interactions.analytics.test_surveys import ANN, BEN, CAL, measures
from tests.interactions.helpers import post

pytestmark = pytest.mark.django_db
JOURNEYS = "/api/v1/analytics/journeys"
DAYS = {"from": "2026-11-20T00:00:00Z", "to": "2026-11-24T00:00:00Z"}
DAN = "tel:+15550000004"


def at(when: str) -> datetime:
    return datetime.fromisoformat(when.replace("Z", "+00:00"))


def z(hh_mm: str, day: int = 20) -> str:
    return f"2026-11-{day}T{hh_mm}:00Z"


@pytest.fixture
def clock(monkeypatch):
    """The hub's clock, set late on the 23rd while events are posted (an event counts when it happened)."""

    def set_to(when: str) -> None:
        monkeypatch.setattr(timezone, "now", lambda: at(when))

    set_to(z("23:59", 23))
    return set_to


@pytest.fixture
def journeys(api, supervisor_api, clock):
    post(api, subject=ANN, type="customer.profile_updated", time=z("08:00"), data={"segment": "gold"})
    bot = {"channel": "chat", "self_service": True}
    ann = post(api, subject=ANN, time=z("09:00"), data={**bot, "text": "my bill", "topic": "billing"})
    post(api, subject=ANN, type="message.sent", time=z("09:01"), data={"channel": "chat", "text": "Try this"})
    post(api, subject=ANN, time=z("09:05"), data={**bot, "text": "did not help"})
    call = {"direction": "inbound", "conversation_ref": "call-ann"}
    post(api, subject=ANN, type="call.started", time=z("09:20"), data=call)
    post(api, subject=ANN, type="call.transferred", time=z("09:22"), data={**call, "to_queue": "billing"})
    post(api, subject=ANN, type="call.ended", time=z("09:30"),
         data={**call, "duration_seconds": 600, "disposition": "completed"})  # fmt: skip
    clock(z("09:31"))
    resolved = supervisor_api.post(f"/api/v1/threads/{ann['thread_id']}/resolve", {}, format="json")
    assert resolved.status_code == 201, resolved.content
    clock(z("23:59", 23))

    post(api, subject=BEN, time=z("10:00"), data={"channel": "sms", "text": "refund?", "topic": "billing"})
    post(api, subject=BEN, time=z("11:30"), data={"channel": "whatsapp", "text": "hello??"})
    ben = post(
        api, subject=BEN, type="message.sent", time=z("12:00"), data={"channel": "whatsapp", "text": "Yes"}
    )
    clock(z("12:10"))
    resolved = supervisor_api.post(f"/api/v1/threads/{ben['thread_id']}/resolve", {}, format="json")
    assert resolved.status_code == 201, resolved.content
    clock(z("23:59", 23))

    missed = {"direction": "inbound", "conversation_ref": "call-cal", "topic": "delivery"}
    post(api, subject=CAL, type="call.ended", time=z("13:00"),
         data={**missed, "duration_seconds": 0, "disposition": "no-answer"})  # fmt: skip
    post(api, subject=CAL, time=z("13:05"), data={"channel": "sms", "text": "where is my parcel"})
    clock(z("14:00", 23))  # 72 h 55 min after Cal's last message: past the continuation window
    assert idling.threads_idle(now=at(z("14:00", 23))) == 1  # Cal's: Ann's and Ben's are resolved
    clock(z("23:59", 23))


STEPS = {
    # Ann's two chat answers waited 1 min (09:00-09:01) and 15 min (09:05-09:20, the call): (60 + 900) / 2.
    "chat:self-service": {
        "entries": 1, "waits": 2, "mean_wait_seconds": 480.0, "transfers": 0, "unanswered": 0, "abandoned": 0,
        "idled": 0, "dead_ends": 0, "bounced": 1, "bounce_rate": 1.0,
    },
    # Ben waited 2 h at his first step (10:00-12:00), past the SLA; Cal's text was never answered, and his
    # thread went idle there: three dead-ends at `sms`.
    "sms": {
        "entries": 2, "waits": 1, "mean_wait_seconds": 7200.0, "transfers": 0, "unanswered": 2,
        "abandoned": 0, "idled": 1, "dead_ends": 3, "bounced": None, "bounce_rate": None,
    },
    # Ann's call (transferred once) and Cal's missed one.
    "voice": {
        "entries": 2, "waits": 0, "mean_wait_seconds": None, "transfers": 1, "unanswered": 0, "abandoned": 1,
        "idled": 0, "dead_ends": 1, "bounced": None, "bounce_rate": None,
    },
    "whatsapp": {
        "entries": 1, "waits": 0, "mean_wait_seconds": None, "transfers": 0, "unanswered": 0, "abandoned": 0,
        "idled": 0, "dead_ends": 0, "bounced": None, "bounce_rate": None,
    },
}  # fmt: skip


def test_steps_by_hand(journeys, supervisor_api):
    body = measures(supervisor_api, path=JOURNEYS, **DAYS)

    assert {
        t["step"]: {k: v for k, v in t.items() if k not in ("group", "step")} for t in body["totals"]
    } == STEPS
    assert {t["group"] for t in body["totals"]} == {None}


def test_transitions_by_hand(journeys, supervisor_api):
    body = measures(supervisor_api, path=JOURNEYS, **DAYS)

    moves = {
        (t["from"], t["to"]): (t["transitions"], t["mean_seconds"], t["median_seconds"])
        for t in body["transitions"]
    }
    # A median is read from the bins: one gap in a bin [low, high) is its middle, low + 1/2 x (high - low).
    assert moves == {
        ("start", "chat:self-service"): (1, None, None),  # where a journey starts: nothing to time
        ("chat:self-service", "voice"): (1, 900.0, 1350.0),  # 09:05 -> 09:20: bin [900, 1800)
        ("start", "sms"): (1, None, None),
        ("sms", "whatsapp"): (1, 5400.0, 5400.0),  # 10:00 -> 11:30: bin [3600, 7200)
        ("start", "voice"): (1, None, None),
        ("voice", "sms"): (1, 300.0, 450.0),  # 13:00 -> 13:05: bin [300, 600)
    }


def test_choke_points_by_hand(journeys, supervisor_api):
    body = measures(supervisor_api, path=JOURNEYS, **DAYS)

    assert [(c["by"], c["rank"], c["step"], c["value"]) for c in body["choke_points"]] == [
        ("wait", 1, "sms", 7200.0),  # Ben's 2 h
        ("wait", 2, "chat:self-service", 480.0),
        ("transfers", 1, "voice", 1),
    ]


def test_dead_ends_in_the_hour_they_happened(journeys, supervisor_api):
    rows = measures(supervisor_api, path=JOURNEYS, granularity="hour", **DAYS)["rows"]

    ends = {
        (r["bucket"], r["step"]): (r["unanswered"], r["abandoned"], r["idled"])
        for r in rows
        if r["dead_ends"]
    }
    assert ends == {
        ("2026-11-20T11:00:00Z", "sms"): (1, 0, 0),  # Ben's SLA passed at 11:00 (answered later, at 12:00)
        ("2026-11-20T13:00:00Z", "voice"): (0, 1, 0),  # Cal's missed call
        ("2026-11-20T14:00:00Z", "sms"): (1, 0, 0),  # Cal's SLA passed at 14:05
        ("2026-11-23T14:00:00Z", "sms"): (0, 0, 1),  # his thread idled
    }


def test_by_topic_and_segment(journeys, supervisor_api):
    topics = measures(supervisor_api, path=JOURNEYS, group_by="topic", **DAYS)
    entries = {(t["group"], t["step"]): t["entries"] for t in topics["totals"]}
    assert entries == {
        ("billing", "chat:self-service"): 1, ("billing", "voice"): 1, ("billing", "sms"): 1,
        ("billing", "whatsapp"): 1, ("delivery", "voice"): 1, ("delivery", "sms"): 1,
    }  # fmt: skip
    assert {(t["group"], t["from"], t["to"]) for t in topics["transitions"]} >= {
        ("delivery", "start", "voice"),
        ("billing", "start", "sms"),
    }
    segments = measures(supervisor_api, path=JOURNEYS, group_by="segment", **DAYS)
    assert {(t["group"], t["step"]) for t in segments["totals"] if t["group"] == "gold"} == {
        ("gold", "chat:self-service"),
        ("gold", "voice"),
    }


def test_csv_holds_steps_transitions_and_choke_points(journeys, supervisor_api):
    response = supervisor_api.get(JOURNEYS, {**DAYS, "format": "csv"})

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(response.content.decode())))
    kinds = [line["bucket"] for line in lines]
    assert kinds.count("total") == 4 and kinds.count("transition") == 6 and kinds.count("choke_point") == 3
    (move,) = [line for line in lines if line["from"] == "sms" and line["to"] == "whatsapp"]
    assert move["transitions"] == "1" and move["median_seconds"] == "5400.0"


def test_a_self_service_visit_long_before_an_assisted_contact_did_not_bounce(api, supervisor_api, clock):
    post(api, subject=DAN, time=z("09:00"), data={"channel": "chat", "text": "hi", "self_service": True})
    post(
        api, subject=DAN, time=z("09:01", 21), data={"channel": "chat", "text": "a person please"}
    )  # 24 h 1 min

    (bot,) = [
        t
        for t in measures(supervisor_api, path=JOURNEYS, **DAYS)["totals"]
        if t["step"] == "chat:self-service"
    ]
    assert (bot["entries"], bot["bounced"], bot["bounce_rate"]) == (1, 0, 0.0)


def test_a_thread_idle_with_a_callback_still_to_make_is_no_dead_end(api, supervisor_api, clock):
    thread = post(api, subject=DAN, time=z("09:00"), data={"channel": "sms", "text": "call me"})["thread_id"]
    clock(z("09:10"))
    response = api.post("/api/v1/callbacks", {"identifier": DAN, "phone": "+15550000004"}, format="json")
    assert response.status_code in (201, 202), response.content
    clock(z("14:00", 23))
    assert idling.threads_idle(now=at(z("14:00", 23))) == 1
    clock(z("23:59", 23))

    steps = {t["step"]: t for t in measures(supervisor_api, path=JOURNEYS, **DAYS)["totals"]}
    assert steps["callback"]["entries"] == 1 and steps["callback"]["idled"] == 0  # still to make: no dead-end
    assert thread  # (the thread the callback was placed on)


def test_median_of_bins_by_hand():
    # Four gaps: none under 10 s, two in [10, 30), one in [30, 60), one of 60 s or more. The middle (the 2nd)
    # is the last of the [10, 30) bin: 10 + (2 - 0) / 2 x 20 = 30.
    assert median_of_bins([0, 2, 1, 1], [10, 30, 60]) == 30.0
    # Three: the middle (1.5th) falls in [30, 60) after one below: 30 + (1.5 - 1) / 2 x 30 = 37.5.
    assert median_of_bins([1, 0, 2, 0], [10, 30, 60]) == 37.5
    assert median_of_bins([0, 0, 0, 3], [10, 30, 60]) == 60.0  # the open bin: at least its lower bound
    assert median_of_bins([0] * (len(GAP_BINS) + 1), GAP_BINS) is None


@pytest.mark.parametrize(
    "query, field",
    [
        ({"group_by": "agent"}, "group_by"),
        ({"group_by": "channel"}, "group_by"),
        ({"granularity": "x"}, "granularity"),
    ],
)
def test_a_wrong_question_is_a_400_naming_the_field(supervisor_api, query, field):
    response = supervisor_api.get(JOURNEYS, query)

    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_agents_may_not_read_journeys(agent_api):
    assert agent_api.get(JOURNEYS).status_code == 403


def test_a_callback_asked_for_a_follow_up_is_no_step_of_the_customers(api, supervisor_api, agent_api, clock):
    """Dan rates his chat with the bot 1 (a follow-up opens) and an agent asks for a callback to him for it:
    the hub's doing, not his. His journey is the bot chat alone: no `callback` step, and no bounce."""
    clock(z("09:00"))
    bot = {"channel": "chat", "self_service": True, "text": "hi", "topic": "billing"}
    post(api, subject=DAN, time=z("09:00"), data=bot)
    post(api, subject=DAN, type="survey.answered", time=z("09:05"),
         data={"channel": "chat", "metric": "csat", "score": 1})  # fmt: skip
    (followup,) = Followup.objects.all()
    asked = agent_api.post(f"/api/v1/followups/{followup.pk}/callback", {}, format="json")
    assert asked.status_code == 201, asked.content
    clock(z("23:59", 23))

    steps = {t["step"]: t for t in measures(supervisor_api, path=JOURNEYS, **DAYS)["totals"]}
    assert set(steps) == {"chat:self-service"} and steps["chat:self-service"]["bounced"] == 0
