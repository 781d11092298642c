"""Agent presence as events (available, busy, offline) and the open sockets that keep an agent present."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from hub import log, store
from hub.events import RecordedEvent
from interactions import jobs
from interactions.access.models import ApiToken
from interactions.agents.models import AgentSocket
from interactions.agents.selectors import statuses_now
from interactions.catalogue import hub_event
from interactions.errors import InvalidRequest
from interactions.locks import AGENT_LOCKS
from interactions.privacy.redaction import redact_event

AGENT_STATUSES = ("available", "busy", "offline")
# A socket row not refreshed for this long belongs to a process that died without closing it.
SOCKET_STALE = timedelta(seconds=90)


def agent_status_set(*, agent: ApiToken, status: str, reason: str | None = None) -> RecordedEvent | None:
    """Record the agent's status as an event; None when it already is that status (an agent who never set
    one is offline: a socket that opened and closed records nothing)."""
    if status not in AGENT_STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(AGENT_STATUSES)}")
    with transaction.atomic():
        # Only this agent's status is decided here: their own lock, not the global append lock (a status
        # change that raced past it would collide on the stream's version in the append).
        log.lock_keys(AGENT_LOCKS, [str(agent.pk)])
        # From the log, not the presence read model (runners apply it later): under the agent's lock, it is
        # exactly what the log says now.
        current = statuses_now([str(agent.pk)])[str(agent.pk)]
        if current == status:
            return None
        event = hub_event(
            "agent.status_changed",
            f"agent-{agent.pk}",
            {"agent_id": str(agent.pk), "status": status, "reason": reason},
            cause=None,
            at=timezone.now(),
        )
        recorded = store.append([redact_event(replace(event, metadata={"token": str(agent.pk)}))])[0].event
        if status == "available":
            jobs.enqueue_on_commit(jobs.CALLBACKS_DISPATCH)  # a callback may be waiting for a free agent
        return recorded


def agent_socket_open(*, agent: ApiToken) -> str:
    return str(AgentSocket.objects.create(agent=agent).pk)


def agent_socket_seen(*, socket_id: str) -> None:
    AgentSocket.objects.filter(pk=socket_id).update(seen_at=timezone.now())


def agent_socket_close(*, socket_id: str) -> None:
    """Forget the socket; after the grace period, mark the agent offline unless another socket is open."""
    row = AgentSocket.objects.filter(pk=socket_id).first()
    if row is None:
        return
    row.delete()
    jobs.enqueue_on_commit(
        jobs.AGENT_PRESENCE_EXPIRE, str(row.agent_id), countdown=settings.THREADLINE_PRESENCE_GRACE_SECONDS
    )


def agent_offline_if_gone(*, agent_id: str) -> RecordedEvent | None:
    """Mark the agent offline if none of their sockets is open (safe to run twice)."""
    agent = ApiToken.objects.filter(pk=agent_id).first()
    if agent is None:
        return None
    live = AgentSocket.objects.filter(agent=agent, seen_at__gte=timezone.now() - SOCKET_STALE).exists()
    if live:
        return None
    return agent_status_set(agent=agent, status="offline", reason="disconnected")


def agent_presence_sweep() -> int:
    """The safety net of the check a socket's close schedules (beat, every
    THREADLINE_PRESENCE_SWEEP_SECONDS): mark offline every agent left with sockets of dead processes only.
    A process that died closed nothing, or the one check a close scheduled found a socket of that process
    still counting; either way nothing looked again. Returns how many it marked offline."""
    counting = timezone.now() - SOCKET_STALE
    # Candidates: agents with a socket that no longer counts (its process died without closing it). Not
    # agents whose socket closed: the check that close scheduled marks them offline after the grace period,
    # and one who reconnects within it is still connected.
    sockets = AgentSocket.objects.values_list("agent_id", flat=True)
    candidates = {str(a) for a in sockets.filter(seen_at__lt=counting)}
    live = {str(a) for a in sockets.filter(seen_at__gte=counting)}
    shown = [agent for agent, status in statuses_now(candidates - live).items() if status != "offline"]
    return sum(agent_offline_if_gone(agent_id=agent) is not None for agent in sorted(shown))
