"""Commands on threads that become events: resolve, reopen, assign, add a note."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from hub import store
from hub.errors import ApplicationError, NotFound
from interactions.models import ApiToken, Role, Thread, ThreadStatus
from interactions.placement import hub_event
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
        store.append_lock()
        thread = _thread(thread_id)
        stream = f"thread-{thread.pk}"
        expected = {stream: expected_version} if expected_version is not None else None
        event = build(thread, stream)
        return store.append([event], expected_versions=expected)[0].event


def thread_resolve(
    *,
    thread_id: uuid.UUID | str,
    actor: ApiToken,
    reason: str | None = None,
    expected_version: int | None = None,
) -> store.RecordedEvent:
    def build(thread: Thread, stream: str) -> store.NewEvent:
        if thread.status == ThreadStatus.RESOLVED:
            raise InvalidTransition(f"thread {thread.pk} is already resolved")
        data = {"thread_id": str(thread.pk), "agent_id": str(actor.pk), "reason": reason}
        event = hub_event("thread.resolved", stream, data, cause=None, at=timezone.now())
        return _with_actor(event, actor, thread)

    return _command(thread_id, expected_version, build)


def thread_reopen(
    *,
    thread_id: uuid.UUID | str,
    actor: ApiToken,
    reason: str | None = None,
    expected_version: int | None = None,
) -> store.RecordedEvent:
    def build(thread: Thread, stream: str) -> store.NewEvent:
        if thread.status == ThreadStatus.OPEN:
            raise InvalidTransition(f"thread {thread.pk} is already open")
        data = {"thread_id": str(thread.pk), "agent_id": str(actor.pk), "reason": reason}
        event = hub_event("thread.reopened", stream, data, cause=None, at=timezone.now())
        return _with_actor(event, actor, thread)

    return _command(thread_id, expected_version, build)


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
    return store.NewEvent(
        source=COMMAND_SOURCE,
        id=event.id,
        type=event.type,
        stream=event.stream,
        data=event.data,
        subject=event.subject,
        occurred_at=event.occurred_at,
        metadata=metadata,
    )
