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


def agent_socket_seen(*, socket_id: str, agent: ApiToken | None = None) -> None:
    """The socket still lives. Its row is written again if the sweep took it (a process stalled past
    SOCKET_STALE and the grace period, then went on)."""
    updated = AgentSocket.objects.filter(pk=socket_id).update(seen_at=timezone.now())
    if not updated and agent is not None:
        AgentSocket.objects.get_or_create(pk=socket_id, defaults={"agent": agent})


def agent_socket_close(*, socket_id: str) -> None:
    """The socket no longer counts; after the grace period, mark the agent offline unless another socket is
    open. Its row stays, as seen SOCKET_STALE before the close, so that the sweep (agent_presence_sweep)
    finds the agent once the grace period is over, even if the delayed check below is never run (a broker
    that was away), and then forgets it."""
    row = AgentSocket.objects.filter(pk=socket_id).first()
    if row is None:
        return
    AgentSocket.objects.filter(pk=socket_id).update(seen_at=timezone.now() - SOCKET_STALE)
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
    THREADLINE_PRESENCE_SWEEP_SECONDS): mark offline every agent whose sockets no longer count, once the
    grace period after the last of them is over: a process that died closed nothing, the one check a close
    scheduled found a socket of a dead process still counting, or that check was never enqueued (a broker
    that was away). An agent who reconnects within the grace period is not touched. The sockets found are
    then forgotten. Returns how many agents it marked offline."""
    now = timezone.now()
    counting = now - SOCKET_STALE
    over = counting - timedelta(seconds=settings.THREADLINE_PRESENCE_GRACE_SECONDS)
    sockets = AgentSocket.objects.values_list("agent_id", flat=True)
    gone = {str(a) for a in sockets.filter(seen_at__lt=over)}
    candidates = gone - {str(a) for a in sockets.filter(seen_at__gte=over)}  # none counting or in grace
    shown = [agent for agent, status in statuses_now(candidates).items() if status != "offline"]
    marked = sum(agent_offline_if_gone(agent_id=agent) is not None for agent in sorted(shown))
    AgentSocket.objects.filter(seen_at__lt=over).delete()
    return marked
