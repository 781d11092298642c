"""Commands on threads that become events: resolve, reopen, assign, add a note."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from hub import store
from hub.errors import ApplicationError, NotFound
from interactions.errors import InvalidRequest
from interactions.models import AgentPresence, AgentSocket, ApiToken, Role, Thread, ThreadStatus
from interactions.placement import CUSTOMER_LOCKS, hub_event
from interactions.redaction import redact

COMMAND_SOURCE = "/threadline/api"


class InvalidTransition(ApplicationError):
    status = 409
    code = "invalid-transition"
    title = "The thread is not in a state that allows this"


def _thread(thread_id: uuid.UUID | str) -> Thread:
    thread = Thread.objects.filter(pk=thread_id).first()
    if thread is None:
        raise NotFound(f"no thread {thread_id}")
    return thread


def _command(
    thread_id: uuid.UUID | str,
    expected_version: int | None,
    build: Any,
) -> store.RecordedEvent:
    """Load the thread under the append lock, let `build` check it and make the event, append it."""
    with transaction.atomic():
        # The thread's customer first (placement of that customer's events waits), then the append lock.
        store.lock_keys(CUSTOMER_LOCKS, [str(_thread(thread_id).customer_id)])
        store.append_lock()
        thread = _thread(thread_id)
        stream = f"thread-{thread.pk}"
        expected = {stream: expected_version} if expected_version is not None else None
        event = build(thread, stream)
        return store.append([event], expected_versions=expected)[0].event


def _thread_state_change(
    thread_id: uuid.UUID | str,
    actor: ApiToken,
    reason: str | None,
    expected_version: int | None,
    *,
    event_type: str,
    refused_from: str,
) -> store.RecordedEvent:
    def build(thread: Thread, stream: str) -> store.NewEvent:
        if thread.status == refused_from:
            raise InvalidTransition(f"thread {thread.pk} is already {refused_from}")
        data = {"thread_id": str(thread.pk), "agent_id": str(actor.pk), "reason": reason}
        return _with_actor(hub_event(event_type, stream, data, cause=None, at=timezone.now()), actor, thread)

    return _command(thread_id, expected_version, build)


def thread_resolve(
    *,
    thread_id: uuid.UUID | str,
    actor: ApiToken,
    reason: str | None = None,
    expected_version: int | None = None,
) -> store.RecordedEvent:
    return _thread_state_change(
        thread_id,
        actor,
        reason,
        expected_version,
        event_type="thread.resolved",
        refused_from=ThreadStatus.RESOLVED,
    )


def thread_reopen(
    *,
    thread_id: uuid.UUID | str,
    actor: ApiToken,
    reason: str | None = None,
    expected_version: int | None = None,
) -> store.RecordedEvent:
    return _thread_state_change(
        thread_id,
        actor,
        reason,
        expected_version,
        event_type="thread.reopened",
        refused_from=ThreadStatus.OPEN,
    )


def thread_assign(
    *, thread_id: uuid.UUID | str, agent_id: str, actor: ApiToken, expected_version: int | None = None
) -> store.RecordedEvent:
    if not ApiToken.objects.filter(pk=agent_id, role=Role.AGENT, revoked_at__isnull=True).exists():
        raise NotFound(f"no active agent {agent_id}")

    def build(thread: Thread, stream: str) -> store.NewEvent:
        data = {"thread_id": str(thread.pk), "agent_id": str(agent_id)}
        event = hub_event("thread.assigned", stream, data, cause=None, at=timezone.now())
        return _with_actor(event, actor, thread)

    return _command(thread_id, expected_version, build)


def thread_note_add(
    *, thread_id: uuid.UUID | str, text: str, actor: ApiToken, expected_version: int | None = None
) -> store.RecordedEvent:
    def build(thread: Thread, stream: str) -> store.NewEvent:
        data, redacted = redact({"channel": "internal", "text": text, "agent_id": str(actor.pk)})
        event = store.NewEvent(
            source=COMMAND_SOURCE,
            id=str(uuid.uuid4()),
            type="note.added",
            stream=stream,
            data=data,
            occurred_at=timezone.now(),
            metadata={"thread_id": str(thread.pk), **({"redacted": redacted} if redacted else {})},
        )
        return _with_actor(event, actor, thread)

    return _command(thread_id, expected_version, build)


def _with_actor(event: store.NewEvent, actor: ApiToken, thread: Thread) -> store.NewEvent:
    metadata = {
        **event.metadata,
        "token": str(actor.pk),
        "thread_id": str(thread.pk),
        "customer_id": str(thread.customer_id),
    }
    return replace(event, source=COMMAND_SOURCE, metadata=metadata)


# --- Agent presence -----------------------------------------------------------------------------------------

AGENT_STATUSES = ("available", "busy", "offline")
# A socket row not refreshed for this long belongs to a process that died without closing it.
SOCKET_STALE = timedelta(seconds=90)


def agent_status_set(
    *, agent: ApiToken, status: str, reason: str | None = None
) -> store.RecordedEvent | None:
    """Record the agent's status as an event; None when it already is that status."""
    if status not in AGENT_STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(AGENT_STATUSES)}")
    with transaction.atomic():
        store.append_lock()
        current = (
            AgentPresence.objects.filter(agent_id=str(agent.pk)).values_list("status", flat=True).first()
        )
        if current == status:
            return None
        event = hub_event(
            "agent.status_changed",
            f"agent-{agent.pk}",
            {"agent_id": str(agent.pk), "status": status, "reason": reason},
            cause=None,
            at=timezone.now(),
        )
        recorded = store.append([replace(event, metadata={"token": str(agent.pk)})])[0].event
        if status == "available":
            from interactions.callbacks import nudge_dispatch

            nudge_dispatch()  # a callback may be waiting for a free agent
        return recorded


def agent_socket_open(*, agent: ApiToken) -> str:
    return str(AgentSocket.objects.create(agent=agent).pk)


def agent_socket_seen(*, socket_id: str) -> None:
    AgentSocket.objects.filter(pk=socket_id).update(seen_at=timezone.now())


def agent_socket_close(*, socket_id: str) -> None:
    """Forget the socket; after the grace period, mark the agent offline unless another socket is open."""
    from interactions.tasks import agent_presence_expire

    row = AgentSocket.objects.filter(pk=socket_id).first()
    if row is None:
        return
    row.delete()
    agent_id = str(row.agent_id)
    transaction.on_commit(
        lambda: agent_presence_expire.apply_async(
            (agent_id,), countdown=settings.THREADLINE_PRESENCE_GRACE_SECONDS
        )
    )


def agent_offline_if_gone(*, agent_id: str) -> store.RecordedEvent | None:
    """Mark the agent offline if none of their sockets is open (safe to run twice)."""
    agent = ApiToken.objects.filter(pk=agent_id).first()
    if agent is None:
        return None
    live = AgentSocket.objects.filter(agent=agent, seen_at__gte=timezone.now() - SOCKET_STALE).exists()
    if live:
        return None
    return agent_status_set(agent=agent, status="offline", reason="disconnected")
