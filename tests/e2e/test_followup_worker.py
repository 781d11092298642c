"""The follow-up SLA with a real Celery worker and beat: a worker killed between its claim of a due follow-up
and the append of its breach leaves exactly one `followup.breached` once another worker runs.

This test holds the log's append lock itself, so the worker that claimed the follow-up (its row locked
`FOR UPDATE`) waits inside its append, which is proven from PostgreSQL (the worker's session waits on the
advisory lock; the row cannot be locked by anyone else). Then the worker's whole process group is killed with
SIGKILL, the lock is released, and nothing may have been written: the killed worker's transaction never
commits. A new worker then records the breach, once, however many ticks beat sends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from hub.backends.postgresql import APPEND_LOCK_KEY
from hub.models import StoredEvent
from interactions.access.models import Role
from interactions.followups.models import Followup
from interactions.ingestion.pipeline import events_ingest
from tests.conftest import cloud_event, requires_postgresql
from tests.e2e import servers
from tests.factories import ApiTokenFactory

pytestmark = [
    requires_postgresql,
    pytest.mark.skipif(
        not settings.CELERY_BROKER_URL.startswith(("redis://", "amqp://")),
        reason="about a real broker: set CELERY_BROKER_URL to Redis (CI uses redis://127.0.0.1:6379/0)",
    ),
    pytest.mark.django_db(transaction=True),
]
WORKER = "followup-worker"
DEADLINE = 60


def _wait_for(check, what: str, timeout: float = DEADLINE):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _waiting_in_append(probe: psycopg.Connection) -> list[int]:
    """The worker's sessions waiting for the append lock (an advisory lock) right now."""
    return [
        pid
        for (pid,) in probe.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE %s"
            " AND wait_event_type = 'Lock' AND wait_event = 'advisory'",
            [f"{WORKER}%"],
        )
    ]


def _row_is_claimed(probe: psycopg.Connection, followup_id) -> bool:
    try:
        with probe.transaction():
            probe.execute("SELECT 1 FROM followups_followup WHERE id = %s FOR UPDATE NOWAIT", [followup_id])
    except psycopg.errors.LockNotAvailable:
        return True
    return False


def _breaches() -> int:
    connection.close()  # a fresh snapshot
    return StoredEvent.objects.filter(type="followup.breached").count()


def test_a_worker_killed_between_claim_and_append_leaves_exactly_one_breach(tmp_path, settings):
    settings.THREADLINE_FOLLOWUP_SLA_SECONDS = 0.001  # due at once
    admin = ApiTokenFactory(role=Role.ADMIN)
    survey = cloud_event(
        id="bottom-box-1",
        type="survey.answered",
        time=timezone.now().isoformat(),
        data={"channel": "sms", "metric": "csat", "score": 1, "comment": "never again"},
    )
    events_ingest([survey], token=admin)
    followup = Followup.objects.get()
    assert followup.state == "open" and followup.due_at <= timezone.now()

    env = servers.with_application_name(
        servers.server_env(THREADLINE_FOLLOWUP_TICK_SECONDS="0.5", THREADLINE_LOG_TICKS="1"), WORKER
    )
    beat = [
        str(servers.BIN / "celery"), "-A", "config", "beat", "--loglevel", "INFO",
        "--schedule", str(tmp_path / "beat-schedule"),
    ]  # fmt: skip
    workers: list[subprocess.Popen] = []
    logs = []

    def start_worker() -> subprocess.Popen:
        log = (tmp_path / f"worker-{len(workers)}.log").open("w")
        logs.append(log)
        worker = subprocess.Popen(
            servers.celery_worker(concurrency=1),
            cwd=servers.ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        workers.append(worker)
        return worker

    url = servers.test_database_url()
    holder = psycopg.connect(url)  # holds the append lock in an open transaction
    probe = psycopg.connect(url, autocommit=True)
    try:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", [APPEND_LOCK_KEY])
        with servers.processes({"beat": beat}, env, tmp_path):
            first = start_worker()
            # Claimed (the row is locked by the worker's transaction) and waiting inside the append.
            _wait_for(lambda: _waiting_in_append(probe), "the worker to wait for the append lock")
            assert _row_is_claimed(probe, followup.pk)

            os.killpg(first.pid, signal.SIGKILL)
            first.wait(10)
            holder.commit()  # the append lock is free: the killed worker's session may take it, not commit
            _wait_for(lambda: not _row_is_claimed(probe, followup.pk), "the killed worker's claim to end")
            assert _breaches() == 0  # its transaction rolled back whole
            assert Followup.objects.get().state == "open"

            start_worker()
            _wait_for(lambda: _breaches() >= 1, "a new worker to record the breach")
            time.sleep(3)  # more ticks: beat goes on sending them every half second
            assert _breaches() == 1
    finally:
        holder.close()
        probe.close()
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
                worker.wait(20)
        for log in logs:
            log.close()

    [breached] = StoredEvent.objects.filter(type="followup.breached")
    assert breached.event_id == f"{followup.pk}/breached"
    row = Followup.objects.get()
    assert (row.state, row.version) == ("breached", 2)
