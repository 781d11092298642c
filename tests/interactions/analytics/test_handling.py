"""Handling measures: a hand-built day of three threads (an SMS one assigned, resolved, reopened and resolved
again; a call transferred and resolved; an e-mail answered after an automatic reply), every figure worked out
by hand below, by hour and by channel and agent."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.utils import timezone

from interactions.models import Role
from tests.factories import ApiTokenFactory
from tests.interactions.analytics.test_surveys import ANN, BEN, by, measures
from tests.interactions.helpers import post

pytestmark = pytest.mark.django_db
HANDLING = "/api/v1/analytics/handling"
DAY = {"from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z"}


def at(hh_mm: str) -> datetime:
    return datetime.fromisoformat(f"2026-11-20T{hh_mm}:00+00:00")


def z(hh_mm: str) -> str:
    return f"2026-11-20T{hh_mm}:00Z"


@pytest.fixture
def day(api, supervisor_api, monkeypatch):
    agent = ApiTokenFactory(role=Role.AGENT)

    # The hub's clock: the end of the day while events are posted (an event counts when it happened, never
    # later than it arrived), each command's moment while it is given.
    monkeypatch.setattr(timezone, "now", lambda: at("23:59"))

    def command(clock: str, thread: str, verb: str, **body) -> None:
        monkeypatch.setattr(timezone, "now", lambda: at(clock))
        response = supervisor_api.post(f"/api/v1/threads/{thread}/{verb}", body, format="json")
        assert response.status_code == 201, response.content
        monkeypatch.setattr(timezone, "now", lambda: at("23:59"))

    sms = {"channel": "sms"}
    one = post(api, subject=ANN, time=z("09:00"), data={**sms, "text": "my bill", "topic": "billing"})[
        "thread_id"
    ]
    command("09:02", one, "assign", agent_id=str(agent.pk))
    post(
        api,
        subject=ANN,
        type="message.sent",
        time=z("09:10"),
        data={**sms, "text": "on it", "agent_id": str(agent.pk)},
    )
    post(
        api,
        subject=ANN,
        type="message.sent",
        time=z("09:20"),
        data={**sms, "text": "done", "agent_id": str(agent.pk)},
    )
    command("09:32", one, "resolve")
    command("10:00", one, "reopen")
    command("10:30", one, "resolve")

    call = {"direction": "inbound", "conversation_ref": "call-1"}
    two = post(api, subject=BEN, type="call.started", time=z("11:00"), data=call)["thread_id"]
    post(api, subject=BEN, type="call.transferred", time=z("11:01"), data={**call, "to_queue": "billing"})
    post(api, subject=BEN, type="call.ended", time=z("11:10"), data={**call, "duration_seconds": 540})
    command("11:15", two, "resolve")

    mail = {"channel": "email"}
    three = post(api, subject="mailto:cal@example.com", time=z("12:00"), data={**mail, "text": "hello?"})[
        "thread_id"
    ]
    post(api, subject="mailto:cal@example.com", type="message.sent", time=z("12:01"),
         data={**mail, "text": "Out of office", "automated": "auto-reply"})  # fmt: skip  # no response
    post(
        api,
        subject="mailto:cal@example.com",
        type="message.sent",
        time=z("13:30"),
        data={**mail, "text": "Hi Cal"},
    )
    command("14:00", three, "resolve")
    return {"agent": str(agent.pk)}


def test_totals_by_hand(day, supervisor_api):
    (total,) = measures(supervisor_api, path=HANDLING, **DAY)["totals"]
    assert total == {
        "group": None,
        "calls": 1, "voice_handling_seconds": 540.0,  # the one call, 9 minutes
        "transfers": 1,
        # SMS answered 10 minutes after it came in; the e-mail 90 minutes after (its auto-reply is no answer).
        "first_responses": 2, "first_response_seconds": 3000.0,
        # First resolutions only: SMS 32 min after opening, call 15 min, e-mail 2 h; (1920 + 900 + 7200) / 3.
        "resolutions": 3, "resolution_seconds": 3340.0,
        # Digital, assigned: only the SMS thread, from its assignment (09:02) to its first resolution (09:32).
        "digital_handled": 1, "digital_handling_seconds": 1800.0,
        "reopens": 1,
        # Each thread had one contact before its first resolution; the SMS one was reopened within 7 days.
        "first_contact_resolutions": 2, "fcr_rate": 0.6667,
        "repeat_contacts": 0,  # three customers, one thread each
    }  # fmt: skip


def test_by_hour(day, supervisor_api):
    rows = measures(supervisor_api, path=HANDLING, granularity="hour", **DAY)["rows"]
    steps = {
        r["bucket"][11:16]: {k: v for k, v in r.items() if isinstance(v, int) and v and k != "group"}
        for r in rows
    }
    assert steps == {
        "09:00": {"first_responses": 1, "resolutions": 1, "digital_handled": 1},
        "10:00": {"reopens": 1},
        "11:00": {"calls": 1, "transfers": 1, "resolutions": 1, "first_contact_resolutions": 1},
        "13:00": {"first_responses": 1},
        "14:00": {"resolutions": 1, "first_contact_resolutions": 1},
    }


def test_by_channel_and_by_agent(day, supervisor_api):
    channels = {
        r["group"]: r for r in measures(supervisor_api, path=HANDLING, group_by="channel", **DAY)["totals"]
    }
    assert set(channels) == {"sms", "voice", "email"}
    assert (channels["sms"]["first_response_seconds"], channels["sms"]["resolution_seconds"]) == (
        600.0,
        1920.0,
    )
    assert channels["sms"]["reopens"] == 1 and channels["sms"]["digital_handling_seconds"] == 1800.0
    voice = channels["voice"]
    assert (voice["calls"], voice["transfers"], voice["resolution_seconds"]) == (1, 1, 900.0)
    assert channels["voice"]["first_responses"] == 0 and channels["voice"]["first_response_seconds"] is None
    assert (channels["email"]["first_response_seconds"], channels["email"]["resolution_seconds"]) == (
        5400.0,
        7200.0,
    )

    agents = {
        r["group"]: r for r in measures(supervisor_api, path=HANDLING, group_by="agent", **DAY)["totals"]
    }
    # The SMS thread's steps count for the agent it was assigned to (not the supervisor who resolved it).
    mine = agents[day["agent"]]
    assert (mine["first_responses"], mine["resolutions"], mine["digital_handled"], mine["reopens"]) == (
        1,
        1,
        1,
        1,
    )
    assert (agents[None]["calls"], agents[None]["resolutions"]) == (1, 2)


def test_by_topic_and_segment(day, api, supervisor_api):
    topics = {
        r["group"]: r for r in measures(supervisor_api, path=HANDLING, group_by="topic", **DAY)["totals"]
    }
    assert topics["billing"]["resolutions"] == 1 and topics[None]["resolutions"] == 2
    segments = measures(supervisor_api, path=HANDLING, group_by="segment", **DAY)["totals"]
    assert [r["group"] for r in segments] == [None]


def test_handling_as_csv(day, supervisor_api):
    response = supervisor_api.get(HANDLING, {"format": "csv", **DAY})
    lines = response.content.decode().splitlines()
    assert lines[0].startswith("bucket,group,calls,voice_handling_seconds,transfers,first_responses")
    assert lines[-1] == "total,,1,540.0,1,2,3000.0,3,3340.0,1,1800.0,1,2,0.6667,0"


def test_handling_is_refused_to_an_agent_and_wrong_questions_are_400s(supervisor_api):
    agent = ApiTokenFactory(role=Role.AGENT)
    from tests.conftest import client_for

    assert client_for(agent).get(HANDLING).status_code == 403
    response = supervisor_api.get(HANDLING, {"group_by": "mood"})
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "group_by"
    assert by(supervisor_api.get(HANDLING, {"metric": "csat"}).json()["totals"], group=None) == []
