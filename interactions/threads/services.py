"""Commands on threads that become events: resolve, reopen, assign, add a note."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace

from django.db import transaction
from django.utils import timezone

from hub import log, store
from hub.errors import NotFound
from hub.events import NewEvent, RecordedEvent
from interactions.access.models import ApiToken, Role
from interactions.access.rules import require_may_assign_to
from interactions.catalogue import ThreadStatus, hub_event
from interactions.errors import Conflict
from interactions.idempotency import appended, first_answer, keyed
from interactions.locks import CUSTOMER_LOCKS
from interactions.placement.models import PlacedThread
from interactions.privacy.redaction import redact_event

COMMAND_SOURCE = "/threadline/api"


class InvalidTransition(Conflict):
    """The thread is not in a state that allows this (resolving a resolved thread)."""


def _thread(thread_id: uuid.UUID | str) -> PlacedThread:
    """The thread as the write model has it (current with every appended event, whatever the read models'
    lag): its customer and its state decide the command."""
    thread = PlacedThread.objects.filter(pk=thread_id).first()
    if thread is None:
        raise NotFound(f"no thread {thread_id}")
    return thread


def _command(
    thread_id: uuid.UUID | str,
    actor: ApiToken,
    expected_version: int | None,
    draft: NewEvent,
    check: Callable[[PlacedThread], None] | None = None,
    idempotency_key: str | None = None,
) -> RecordedEvent:
    """Append the command's event on its thread's stream.

    The draft is redacted first, before any lock (masking a long text is not done under the append lock);
    then, under the append lock, the thread is loaded, the event gets its stream, time, thread and actor, a
    repeat of a request with the same idempotency key gets the first one's event (interactions.idempotency),
    and `check` may refuse the command.
    """
    draft = keyed(redact_event(draft), actor, idempotency_key)
    with transaction.atomic():
        # The thread's customer's lock: placement of that customer's events, and other commands on their
        # threads, wait. Whatever changes a thread's state is decided under that lock, so the global append
        # lock is not needed. A merge may move the thread to another customer between the read and the
        # lock: then lock that one too and read again.
        locked: set[str] = set()
        while True:
            customer = str(_thread(thread_id).customer_id)
            if customer in locked:
                break
            log.lock_keys(CUSTOMER_LOCKS, [customer])
            locked.add(customer)
        thread = _thread(thread_id)
        stream = f"thread-{thread.pk}"
        data = {**draft.data, "thread_id": str(thread.pk)} if "thread_id" in draft.data else draft.data
        event = _with_actor(
            replace(draft, stream=stream, data=data, occurred_at=timezone.now()), actor, thread
        )
        # The stream too: a note's data does not name its thread, and the same note on another thread with
        # the same key was answered with the first thread's note (201), and nothing written.
        if first := first_answer(event, idempotency_key, same_stream=True):
            return first  # the same request again: its state checks held the first time
        if check is not None:
            check(thread)
        expected = {stream: expected_version} if expected_version is not None else None
        result = store.append([event], expected_versions=expected)[0]
        return appended(result, event, idempotency_key, same_stream=True)


def _thread_state_change(
    thread_id: uuid.UUID | str,
    actor: ApiToken,
    reason: str | None,
    expected_version: int | None,
    *,
    event_type: str,
    refused_from: str,
    idempotency_key: str | None = None,
) -> RecordedEvent:
    def check(thread: PlacedThread) -> None:
        # An idle thread (placement keeps it open, with idled_at) may be resolved, or reopened: reopening it
        # makes it open again on the lists, until it idles again.
        idle = thread.status == ThreadStatus.OPEN and thread.idled_at is not None
        if thread.status == refused_from and not (idle and refused_from == ThreadStatus.OPEN):
            raise InvalidTransition(f"thread {thread.pk} is already {refused_from}")

    data = {"thread_id": str(thread_id), "agent_id": str(actor.pk), "reason": reason}
    draft = hub_event(event_type, "", data, cause=None, at=timezone.now())
    return _command(thread_id, actor, expected_version, draft, check, idempotency_key)


def thread_resolve(
    *,
    thread_id: uuid.UUID | str,
    actor: ApiToken,
    reason: str | None = None,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
) -> RecordedEvent:
    return _thread_state_change(
        thread_id,
        actor,
        reason,
        expected_version,
        event_type="thread.resolved",
        refused_from=ThreadStatus.RESOLVED,
        idempotency_key=idempotency_key,
    )


def thread_reopen(
    *,
    thread_id: uuid.UUID | str,
    actor: ApiToken,
    reason: str | None = None,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
) -> RecordedEvent:
    return _thread_state_change(
        thread_id,
        actor,
        reason,
        expected_version,
        event_type="thread.reopened",
        refused_from=ThreadStatus.OPEN,
        idempotency_key=idempotency_key,
    )


def thread_assign(
    *,
    thread_id: uuid.UUID | str,
    agent_id: str,
    actor: ApiToken,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
) -> RecordedEvent:
    require_may_assign_to(actor, agent_id)
    if not ApiToken.objects.filter(pk=agent_id, role=Role.AGENT, revoked_at__isnull=True).exists():
        raise NotFound(f"no active agent {agent_id}")
    data = {"thread_id": str(thread_id), "agent_id": str(agent_id)}
    draft = hub_event("thread.assigned", "", data, cause=None, at=timezone.now())
    return _command(thread_id, actor, expected_version, draft, idempotency_key=idempotency_key)


def thread_note_add(
    *,
    thread_id: uuid.UUID | str,
    text: str,
    actor: ApiToken,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
) -> RecordedEvent:
    draft = NewEvent(
        source=COMMAND_SOURCE,
        id=str(uuid.uuid4()),
        type="note.added",
        stream="",
        data={"channel": "internal", "text": text, "agent_id": str(actor.pk)},
    )
    return _command(thread_id, actor, expected_version, draft, idempotency_key=idempotency_key)


def _with_actor(event: NewEvent, actor: ApiToken, thread: PlacedThread) -> NewEvent:
    metadata = {
        **event.metadata,
        "token": str(actor.pk),
        "thread_id": str(thread.pk),
        "customer_id": str(thread.customer_id),
    }
    return replace(event, source=COMMAND_SOURCE, metadata=metadata)
