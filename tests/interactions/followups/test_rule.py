"""The follow-up rule: which survey answers open a follow-up, once each, in the survey's own append."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.utils import timezone

from hub.models import StoredEvent
from interactions.access.models import Role
from interactions.followups.models import Followup
from interactions.followups.rules import followup_id_for
from interactions.ingestion.pipeline import events_ingest
from tests.conftest import cloud_event, requires_postgresql
from tests.factories import ApiTokenFactory
from tests.interactions.followups.helpers import survey

pytestmark = pytest.mark.django_db


def opened() -> list[StoredEvent]:
    return list(StoredEvent.objects.filter(type="followup.opened").order_by("position"))


@pytest.mark.parametrize(
    ("metric", "score", "opens"),
    [
        ("csat", 1, True),
        ("csat", 2, True),
        ("csat", 3, False),
        ("csat", 5, False),
        ("nps", 0, True),
        ("nps", 6, True),
        ("nps", 7, False),
        ("nps", 10, False),
        ("ces", 1, True),
        ("ces", 2, True),
        ("ces", 3, False),
        ("ces", 7, False),
    ],
)
def test_a_bottom_box_csat_a_detractor_or_a_high_effort_ces_opens_one_follow_up(api, metric, score, opens):
    placed = survey(api, metric, score, data={"comment": "meh"})

    events = opened()
    assert len(events) == (1 if opens else 0)
    if opens:
        event = events[0]
        assert event.data["survey"]["metric"] == metric and event.data["survey"]["score"] == score
        assert event.data["survey"]["comment"] == "meh"
        assert event.data["thread_id"] == placed["thread_id"]
        assert event.metadata["thread_id"] == placed["thread_id"]
        assert event.metadata["customer_id"] == placed["customer_id"]
        assert event.position == placed["position"] + 1  # appended with it, right after it
        assert event.stream == f"followup-{event.data['followup_id']}"
        assert event.data["rule"]["metric"] == metric


def test_the_follow_up_carries_the_answer_the_reason_and_an_sla_of_an_hour_by_default(api):
    before = timezone.now()
    placed = survey(api, "nps", 3, data={"comment": "slow", "survey_id": "q4-nps"}, id="nps-17")

    event = opened()[0]
    survey_event = StoredEvent.objects.get(position=placed["position"])
    assert event.data["survey"] == {
        "source": survey_event.source,
        "id": "nps-17",
        "metric": "nps",
        "score": 3,
        "comment": "slow",
        "survey_id": "q4-nps",
    }
    assert event.data["reason"] == "NPS 3 is a detractor (0-6 opens a follow-up)"
    assert event.data["rule"] == {"metric": "nps", "max": 6}
    assert event.data["sla_seconds"] == 3600
    due = timezone.datetime.fromisoformat(event.data["due_at"])
    assert before + timedelta(hours=1) <= due <= timezone.now() + timedelta(hours=1)
    assert event.data["followup_id"] == str(followup_id_for(survey_event.source, "nps-17"))
    assert event.metadata["causation_id"] == "nps-17"
    row = Followup.objects.get()
    assert (row.state, row.metric, row.score, row.comment, row.version) == ("open", "nps", 3, "slow", 1)


def test_the_sla_comes_from_settings(api, settings):
    settings.THREADLINE_FOLLOWUP_SLA_SECONDS = 600.0
    survey(api, "csat", 1)
    row = Followup.objects.get()
    assert (row.due_at - row.opened_at) == timedelta(minutes=10)


def test_an_old_answer_posted_late_gets_its_whole_sla_from_when_the_hub_received_it(api):
    survey(api, "csat", 1, time="2026-01-01T10:00:00Z")
    row = Followup.objects.get()
    assert row.due_at > timezone.now() + timedelta(minutes=59)


@pytest.mark.parametrize(
    ("rule", "opens"),
    [
        ({"csat": 2, "nps": 6, "ces": 2}, {"ces-2": True, "ces-3": False}),
        ({"csat": 2, "nps": 6, "ces": 3}, {"ces-2": True, "ces-3": True}),
        ({"csat": 2, "nps": 6, "ces": 1}, {"ces-2": False, "ces-3": False}),
        ({"csat": 2, "nps": 6, "ces": None}, {"ces-2": False, "ces-3": False}),
    ],
)
def test_the_ces_rule_follows_the_setting(api, settings, rule, opens):
    settings.THREADLINE_FOLLOWUP_RULE = rule
    survey(api, "ces", 2, id="ces-2")
    survey(api, "ces", 3, id="ces-3")
    assert {e.data["survey"]["id"]: True for e in opened()} == {k: v for k, v in opens.items() if v}


def test_a_metric_whose_rule_is_off_opens_nothing(api, settings):
    settings.THREADLINE_FOLLOWUP_RULE = {"csat": None, "nps": None, "ces": None}
    survey(api, "csat", 1)
    survey(api, "nps", 0)
    survey(api, "ces", 1)
    assert opened() == [] and not Followup.objects.exists()


def test_a_survey_posted_again_opens_no_second_follow_up(api):
    first = survey(api, "csat", 1, id="s-1")
    again = survey(api, "csat", 1, id="s-1")

    assert again["duplicate"] is True and again["position"] == first["position"]
    assert len(opened()) == 1 and Followup.objects.count() == 1


def test_a_survey_twice_in_one_batch_opens_one_follow_up(api):
    event = cloud_event(
        id="s-2",
        type="survey.answered",
        time=timezone.now().isoformat(),
        data={"channel": "sms", "metric": "csat", "score": 2},
    )
    response = api.generic(
        "POST",
        "/api/v1/events",
        json.dumps([event, event]),
        content_type="application/cloudevents-batch+json",
    )
    assert response.status_code == 201, response.content
    assert len(opened()) == 1


def test_a_survey_from_a_customer_the_hub_never_met_opens_its_follow_up_on_the_thread_placement_opens(api):
    """A survey answer is a threaded event: placement always gives it a customer and a thread (new ones,
    for a stranger), and the follow-up is appended after them and the answer, all in one append."""
    placed = survey(api, "csat", 1, subject="tel:+15550009999")

    types = list(
        StoredEvent.objects.filter(position__gt=placed["position"] - 3)
        .order_by("position")
        .values_list("type")
    )
    assert [t for (t,) in types] == [
        "customer.created",
        "thread.opened",
        "survey.answered",
        "followup.opened",
    ]
    row = Followup.objects.get()
    assert str(row.thread_id) == placed["thread_id"] and str(row.customer_id) == placed["customer_id"]
    assert row.subject == "tel:+15550009999"


def test_a_refused_batch_opens_nothing(api):
    good = cloud_event(
        id="s-3", type="survey.answered", data={"channel": "sms", "metric": "csat", "score": 1}
    )
    bad = cloud_event(id="s-4", type="survey.answered", data={"channel": "sms", "metric": "csat", "score": 9})
    response = api.generic(
        "POST", "/api/v1/events", json.dumps([good, bad]), content_type="application/cloudevents-batch+json"
    )
    assert response.status_code == 422
    assert not StoredEvent.objects.exists() and not Followup.objects.exists()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", {"csat": 2, "nps": 6, "ces": 2}),
        ("csat_max=1", {"csat": 1, "nps": 6, "ces": 2}),
        ("csat_max=2,nps_max=,ces_max=3", {"csat": 2, "nps": None, "ces": 3}),
        (" ces_max = 1 , nps_max=0", {"csat": 2, "nps": 0, "ces": 1}),
    ],
)
def test_the_rule_setting_is_read_from_the_environment(monkeypatch, raw, expected):
    from config import settings as config

    monkeypatch.setenv("THREADLINE_FOLLOWUP_RULE", raw)
    assert config._followup_rule("THREADLINE_FOLLOWUP_RULE") == expected


@pytest.mark.parametrize("raw", ["csat=2", "csat_max", "foo_max=1", "csat_max=6", "nps_max=-1", "ces_max=x"])
def test_a_bad_rule_setting_stops_the_process_naming_it(monkeypatch, raw):
    from config import settings as config

    monkeypatch.setenv("THREADLINE_FOLLOWUP_RULE", raw)
    with pytest.raises(ImproperlyConfigured, match="THREADLINE_FOLLOWUP_RULE"):
        config._followup_rule("THREADLINE_FOLLOWUP_RULE")


@requires_postgresql
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("subjects", [("tel:+15550000001",) * 2, ("tel:+15550000001", "tel:+15550000002")])
def test_the_same_answer_posted_twice_at_once_opens_one_follow_up(subjects):
    """Concurrent copies of one answer (the same source and id): whichever commits first appends it and its
    follow-up; the other finds both in the log, whether placement's locks serialised them (one subject) or
    the log's unique (source, id) did (two subjects)."""
    admin = ApiTokenFactory(role=Role.ADMIN)
    start = threading.Barrier(len(subjects))
    errors: list[BaseException] = []

    def post_copy(subject: str) -> None:
        event = cloud_event(
            id="same-answer",
            type="survey.answered",
            subject=subject,
            time=timezone.now().isoformat(),
            data={"channel": "sms", "metric": "csat", "score": 1},
        )
        try:
            start.wait()
            events_ingest([event], token=admin)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=post_copy, args=(s,)) for s in subjects]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)

    assert errors == []
    assert StoredEvent.objects.filter(type="survey.answered").count() == 1
    assert len(opened()) == 1 and Followup.objects.count() == 1
