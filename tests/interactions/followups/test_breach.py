"""The follow-up SLA: past its due time an open follow-up is recorded as breached, once; and the table a
rebuild makes from the log is the one the appends made."""

from __future__ import annotations

import io
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection

from hub.models import StoredEvent
from interactions.followups import breach
from interactions.followups.models import Followup
from interactions.followups.services import CallbackWindow, followup_callback, followup_close
from tests.conftest import requires_postgresql
from tests.factories import ApiTokenFactory
from tests.interactions.followups.helpers import survey

LATER = timedelta(hours=2)


@pytest.mark.django_db
def test_an_open_follow_up_past_its_sla_is_breached_once(api):
    survey(api, "csat", 1)
    row = Followup.objects.get()

    assert breach.followups_breach(now=row.due_at - timedelta(seconds=1)) == 0  # not yet
    assert breach.followups_breach(now=row.due_at) == 1
    assert breach.followups_breach(now=row.due_at + LATER) == 0  # a doubled or later tick

    [breached] = StoredEvent.objects.filter(type="followup.breached")
    assert breached.event_id == f"{row.pk}/breached" and breached.stream == f"followup-{row.pk}"
    assert breached.data == {"followup_id": str(row.pk), "due_at": row.due_at.isoformat()}
    assert breached.metadata == {"customer_id": str(row.customer_id), "thread_id": str(row.thread_id)}
    row.refresh_from_db()
    assert (row.state, row.version) == ("breached", 2)


@pytest.mark.django_db
def test_a_closed_follow_up_is_never_breached(api):
    survey(api, "csat", 1)
    row = Followup.objects.get()
    followup_close(followup_id=row.pk, actor=ApiTokenFactory(role="agent"), action="explained")

    assert breach.followups_breach(now=row.due_at + LATER) == 0
    assert not StoredEvent.objects.filter(type="followup.breached").exists()


@pytest.mark.django_db
def test_the_task_pages_through_every_follow_up_due(api):
    for i in range(5):
        survey(api, "csat", 2, subject=f"tel:+1555000{i:04d}")
    due = Followup.objects.order_by("due_at").last().due_at

    assert breach.followups_breach(now=due, page=2) == 5
    assert set(Followup.objects.values_list("state", flat=True)) == {"breached"}


@pytest.mark.django_db
def test_the_beat_task_records_what_is_due(api, eager_celery, settings):
    from interactions.followups.tasks import followups_breach

    settings.THREADLINE_FOLLOWUP_SLA_SECONDS = 0.001
    survey(api, "csat", 1)
    followups_breach.apply_async()
    assert Followup.objects.get().state == "breached"
    assert "followups-breach" in settings.CELERY_BEAT_SCHEDULE


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_claimants_racing_for_the_same_due_follow_ups_record_each_breach_once(api):
    for i in range(20):
        survey(api, "nps", 0, subject=f"tel:+1555000{i:04d}")
    due = Followup.objects.order_by("due_at").last().due_at
    counts: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def claimant() -> None:
        try:
            start.wait()
            counts.append(breach.followups_breach(now=due, page=3))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=claimant) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)

    assert errors == []
    assert sum(counts) == 20
    per_followup = StoredEvent.objects.filter(type="followup.breached").values_list("stream", flat=True)
    assert len(per_followup) == len(set(per_followup)) == 20


def _table() -> list[dict]:
    return list(Followup.objects.order_by("pk").values())


@pytest.mark.django_db
def test_a_rebuild_from_the_log_gives_the_follow_ups_the_appends_gave(api, settings):
    agent = ApiTokenFactory(role="agent")
    for i, (metric, score) in enumerate([("csat", 1), ("nps", 4), ("ces", 2), ("csat", 2), ("csat", 5)]):
        survey(api, metric, score, subject=f"tel:+1555000{i:04d}", data={"comment": f"answer {i}"})
    first, _second, third, fourth = Followup.objects.order_by("opened_at")
    followup_close(followup_id=first.pk, actor=agent, action="credited", note="refunded")
    breach.followups_breach(now=fourth.due_at)  # the second to fourth breach
    followup_close(followup_id=third.pk, actor=agent, action="escalated")
    followup_callback(followup_id=fourth.pk, actor=agent, window=CallbackWindow())
    settings.THREADLINE_FOLLOWUP_RULE = {"csat": None, "nps": None, "ces": None}  # a later change of rule
    before = _table()
    assert sorted(r["state"] for r in before) == ["breached", "breached", "closed", "closed"]
    assert sum(len(r["callbacks"]) for r in before) == 1

    call_command("rebuild_projections", stdout=io.StringIO(), stderr=io.StringIO())

    assert _table() == before
