"""Agent presence's safety net: beat's sweep marks offline the agents whose sockets no longer count once the
grace period after the last of them is over (their process died and nothing closed them, the one check a
close scheduled found one still counting, or that check was never enqueued); never an agent who may still
reconnect within the grace period."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery import beat
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.celery import app as celery_app
from interactions import jobs
from interactions.agents import services as presence
from interactions.agents.models import AgentSocket
from interactions.agents.selectors import statuses_now
from interactions.agents.services import SOCKET_STALE
from interactions.models import Role
from tests.factories import ApiTokenFactory

pytestmark = pytest.mark.django_db


def available_agent():
    agent = ApiTokenFactory(role=Role.AGENT)
    socket = presence.agent_socket_open(agent=agent)
    presence.agent_status_set(agent=agent, status="available")
    return agent, socket


def age(socket: str, seconds: float) -> None:
    AgentSocket.objects.filter(pk=socket).update(seen_at=timezone.now() - timedelta(seconds=seconds))


def status(agent) -> str:
    return statuses_now([str(agent.pk)])[str(agent.pk)]


def past_grace(socket: str) -> None:
    """As the socket's row is once its process has been dead (or it has been closed) past the grace."""
    age(socket, SOCKET_STALE.total_seconds() + settings.THREADLINE_PRESENCE_GRACE_SECONDS + 1)


def test_an_agent_whose_only_socket_died_with_its_process_is_marked_offline_by_the_sweep():
    gone, dead = available_agent()
    here, _ = available_agent()
    age(dead, 91)  # its process was killed: no close ran, nothing was scheduled
    assert presence.agent_presence_sweep() == 0  # not yet: within the grace after it stopped counting
    past_grace(dead)

    assert presence.agent_presence_sweep() == 1

    assert (status(gone), status(here)) == ("offline", "available")
    assert presence.agent_presence_sweep() == 0  # nothing more to do, and nothing written twice


def test_a_socket_of_a_dead_process_that_still_counted_at_the_closes_check_is_caught_later():
    agent, dead = available_agent()
    live = presence.agent_socket_open(agent=agent)
    age(dead, 60)  # its process died a minute ago: it counts for 30 s more
    presence.agent_socket_close(socket_id=live)
    assert presence.agent_offline_if_gone(agent_id=str(agent.pk)) is None  # the one check the close scheduled
    assert status(agent) == "available"

    past_grace(dead)
    past_grace(live)
    assert presence.agent_presence_sweep() == 1 and status(agent) == "offline"
    assert not AgentSocket.objects.exists()  # forgotten once swept


def test_an_agent_who_reconnects_within_the_grace_period_is_not_marked_offline_by_a_sweep_meanwhile():
    """A sweep between a close (a reload, a network blip) and the reconnect marked the agent offline."""
    agent, socket = available_agent()
    presence.agent_socket_close(socket_id=socket)

    assert presence.agent_presence_sweep() == 0
    presence.agent_socket_open(agent=agent)
    assert status(agent) == "available"


def test_an_agent_whose_close_check_was_never_enqueued_is_marked_offline_once_the_grace_is_over(
    monkeypatch,
):
    """The broker was away: the close logged "its safety net will cover it", and the sweep (which only
    looked at sockets of dead processes) never did."""
    from celery import current_app
    from kombu.exceptions import OperationalError as BrokerError

    agent, socket = available_agent()
    task = current_app.tasks[jobs.AGENT_PRESENCE_EXPIRE]

    def refused(*args, **kwargs):
        raise BrokerError("refused")

    monkeypatch.setattr(task, "apply_async", refused)
    with transaction.atomic():
        presence.agent_socket_close(socket_id=socket)  # its check is enqueued on commit: refused, logged
    monkeypatch.undo()
    assert presence.agent_presence_sweep() == 0  # within the grace: they may reconnect

    past_grace(socket)
    assert presence.agent_presence_sweep() == 1 and status(agent) == "offline"


def test_the_beat_entry_runs_the_sweep_by_name(settings, eager_celery, celery_runs):
    agent, dead = available_agent()
    past_grace(dead)
    scheduler = beat.Scheduler(app=celery_app)  # its entries come from the app's configuration
    entry = scheduler.schedule["agents-presence-sweep"]
    entry.last_run_at -= timedelta(seconds=settings.THREADLINE_PRESENCE_SWEEP_SECONDS)

    assert entry.is_due().is_due
    scheduler.apply_async(entry)

    assert celery_runs == [(jobs.AGENT_PRESENCE_SWEEP, (), {})]
    assert status(agent) == "offline"
