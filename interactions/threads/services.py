"""Commands on threads that become events: resolve, reopen, assign, add a note."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from django.db import transaction
from django.utils import timezone

from hub import log, store
from hub.errors import NotFound
from hub.events import NewEvent, RecordedEvent
from interactions.access.models import ApiToken, Role
from interactions.catalogue import hub_event
from interactions.errors import Conflict
from interactions.locks import CUSTOMER_LOCKS
from interactions.privacy.redaction import redact_event
from interactions.threads.models import Thread, ThreadStatus

COMMAND_SOURCE = "/threadline/api"


class InvalidTransition(Conflict):
    """The thread is not in a state that allows this (resolving a resolved thread)."""


def _thread(thread_id: uuid.UUID | str) -> Thread:
    thread = Thread.objects.filter(pk=thread_id).first()
    if thread is None:
        raise NotFound(f"no thread {thread_id}")
    return thread


def _command(
    thread_id: uuid.UUID | str,
    expected_version: int | None,
    build: Any,
) -> RecordedEvent:
    """Load the thread under the append lock, let `build` check it and make the event; redact, append it."""
    with transaction.atomic():
        # The thread's customer first (placement of that customer's events waits), then the append lock.
        log.lock_keys(CUSTOMER_LOCKS, [str(_thread(thread_id).customer_id)])
        log.append_lock()
        thread = _thread(thread_id)
        stream = f"thread-{thread.pk}"
        expected = {stream: expected_version} if expected_version is not None else None
        event = redact_event(build(thread, stream))
        return store.append([event], expected_versions=expected)[0].event


def _thread_state_change(
    thread_id: uuid.UUID | str,
    actor: ApiToken,
    reason: str | None,
    expected_version: int | None,
    *,
    event_type: str,
    refused_from: str,
) -> RecordedEvent:
    def build(thread: Thread, stream: str) -> NewEvent:
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
) -> RecordedEvent:
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
) -> RecordedEvent:
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
) -> RecordedEvent:
    if not ApiToken.objects.filter(pk=agent_id, role=Role.AGENT, revoked_at__isnull=True).exists():
        raise NotFound(f"no active agent {agent_id}")

    def build(thread: Thread, stream: str) -> NewEvent:
        data = {"thread_id": str(thread.pk), "agent_id": str(agent_id)}
        event = hub_event("thread.assigned", stream, data, cause=None, at=timezone.now())
        return _with_actor(event, actor, thread)

    return _command(thread_id, expected_version, build)


def thread_note_add(
    *, thread_id: uuid.UUID | str, text: str, actor: ApiToken, expected_version: int | None = None
) -> RecordedEvent:
    def build(thread: Thread, stream: str) -> NewEvent:
        event = NewEvent(
            source=COMMAND_SOURCE,
            id=str(uuid.uuid4()),
            type="note.added",
            stream=stream,
            data={"channel": "internal", "text": text, "agent_id": str(actor.pk)},
            occurred_at=timezone.now(),
            metadata={"thread_id": str(thread.pk)},
        )
        return _with_actor(event, actor, thread)

    return _command(thread_id, expected_version, build)


def _with_actor(event: NewEvent, actor: ApiToken, thread: Thread) -> NewEvent:
    metadata = {
        **event.metadata,
        "token": str(actor.pk),
        "thread_id": str(thread.pk),
        "customer_id": str(thread.customer_id),
    }
    return replace(event, source=COMMAND_SOURCE, metadata=metadata)
