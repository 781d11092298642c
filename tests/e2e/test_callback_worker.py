"""Callbacks with a real Celery worker, two beat processes and Redis: a SIGKILL loses and doubles nothing.

Sixty callbacks are requested, ten agents answer every offer (simulated in this process through the
services, as their desktops would over REST), a fifth of the callbacks go unanswered once and are retried
after the (shortened) backoff, and five are cancelled before they are due. While offers are being made, the
worker's whole process group is killed with SIGKILL, twice, each time with a dispatch task in flight, and
started again. Two beat processes send every tick twice. At the end: exactly one `callback.offered` per
callback and attempt, every callback completed or cancelled (none left behind), no offer for a cancelled
one, and retries no earlier than their backoff.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from hub.models import StoredEvent
from interactions.agents import services as presence
from interactions.callbacks import services as callbacks
from interactions.models import Callback, CallbackState, Role
from tests.conftest import requires_postgresql
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
RETRY_SECONDS = 2.0
DEADLINE = 120


def beat_argv(schedule) -> list[str]:
    return [
        str(servers.BIN / "celery"),
        "-A",
        "config",
        "beat",
        "--loglevel",
        "INFO",
        "--schedule",
        str(schedule),
    ]


def in_flight(log) -> bool:
    text = log.read_text()
    return text.count("] received") > text.count("] succeeded") + text.count("] raised")


def test_a_killed_worker_neither_loses_nor_doubles_an_offer(tmp_path, settings):
    # Outcomes are reported from this process (as the desktops' REST calls would be): same backoff here.
    settings.THREADLINE_CALLBACK_RETRY_SECONDS = [RETRY_SECONDS, RETRY_SECONDS]
    env = servers.server_env(
        THREADLINE_CALLBACK_TICK_SECONDS="0.5",
        THREADLINE_CALLBACK_RETRY_SECONDS=f"{RETRY_SECONDS},{RETRY_SECONDS}",
        THREADLINE_LOG_TICKS="1",  # `in_flight` reads the worker's received and succeeded lines
    )
    agents, sockets = {}, []
    for _ in range(10):
        agent = ApiTokenFactory(role=Role.AGENT)
        sockets.append(presence.agent_socket_open(agent=agent))
        presence.agent_status_set(agent=agent, status="available")
        agents[str(agent.pk)] = agent
    integration = ApiTokenFactory(role=Role.INTEGRATION)

    def request(number: str, **extra):
        return callbacks.callback_request(
            actor=integration,
            request=callbacks.RequestInput(identifier=f"tel:{number}", phone=number, **extra),
        )

    cancelled = [request(f"+1555100{i:04d}", at=timezone.now() + timedelta(seconds=15)) for i in range(5)]
    for row in cancelled:
        callbacks.callback_cancel(callback_id=row.pk, actor=integration)
    wanted = [request(f"+1555000{i:04d}") for i in range(60)]
    retry_once = {str(row.pk) for row in wanted[::5]}

    workers: list[subprocess.Popen] = []
    logs = []

    def start_worker() -> None:
        log = (tmp_path / f"worker-{len(workers)}.log").open("w")
        logs.append(log)
        workers.append(
            subprocess.Popen(
                servers.celery_worker(concurrency=2),  # two dispatchers may run at once
                cwd=servers.ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def answer_offers() -> None:
        """Every offered agent accepts and reports: no answer on a marked callback's first attempt."""
        for row in Callback.objects.filter(state=CallbackState.OFFERED):
            agent = agents[row.agent_id]
            callbacks.callback_accept(callback_id=row.pk, actor=agent)
            outcome = "no_answer" if str(row.pk) in retry_once and row.attempt == 1 else "completed"
            callbacks.callback_outcome(callback_id=row.pk, actor=agent, outcome=outcome)
        for socket_id in sockets:  # the desktops' heartbeats
            presence.agent_socket_seen(socket_id=socket_id)

    beats = {
        "beat-1": beat_argv(tmp_path / "beat-1"),
        "beat-2": beat_argv(tmp_path / "beat-2"),
    }
    kills = 0
    try:
        with servers.processes(beats, env, tmp_path):
            start_worker()
            deadline = time.monotonic() + DEADLINE
            while time.monotonic() < deadline:
                offered = StoredEvent.objects.filter(type="callback.offered").count()
                # Kill while offers are being made (after about a third, and after two thirds), at a moment
                # the worker's log shows a dispatch task received and not finished.
                due_to_kill = (kills == 0 and offered >= 20) or (kills == 1 and offered >= 45)
                if due_to_kill and in_flight(tmp_path / f"worker-{len(workers) - 1}.log"):
                    os.killpg(workers[-1].pid, signal.SIGKILL)
                    workers[-1].wait(10)
                    kills += 1
                    start_worker()
                answer_offers()
                if not Callback.objects.filter(state__in=Callback.ACTIVE).exists():
                    break
                time.sleep(0.05)
                connection.close()  # a fresh snapshot each round
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
                worker.wait(20)
        for log in logs:
            log.close()

    assert kills == 2
    worker_logs = " | ".join(p.read_text()[-800:] for p in tmp_path.glob("*.log"))
    states = Counter(Callback.objects.values_list("state", flat=True))
    assert states == {"completed": 60, "cancelled": 5}, (states, worker_logs)

    offers = StoredEvent.objects.filter(type="callback.offered")
    per_attempt = Counter((o.stream, o.data["attempt"]) for o in offers)
    assert max(per_attempt.values()) == 1  # exactly one offer per callback and attempt
    assert offers.count() == 60 + len(retry_once)
    assert not offers.filter(stream__in=[f"callback-{row.pk}" for row in cancelled]).exists()

    for callback_id in retry_once:
        events = {
            e.type: e
            for e in StoredEvent.objects.filter(stream=f"callback-{callback_id}").order_by("position")
        }
        no_answer, rescheduled = events["callback.no_answer"], events["callback.scheduled"]
        second_offer = offers.get(stream=f"callback-{callback_id}", data__attempt=2)
        assert rescheduled.data["attempt"] == 2
        assert second_offer.occurred_at >= no_answer.occurred_at + timedelta(seconds=RETRY_SECONDS)
