"""Follow-up commands: close one with what was done, or request a callback to the customer for it.

Every change is a transition, as callbacks' are: lock the follow-up's row, check its state, and append the
step against its stream's version, all in one transaction. The row is the inline projection of the
follow-up's stream (interactions.projections.followups), so it is current with every committed step.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from hub import log, store
from hub.errors import NotFound
from hub.events import RecordedEvent
from interactions.access.models import ApiToken
from interactions.access.rules import require_may_act_on_followups
from interactions.callbacks.models import Callback
from interactions.callbacks.services import REMARK_MAX, RequestInput, callback_request
from interactions.catalogue import HUB_SOURCE
from interactions.catalogue.schemas import FOLLOWUP_ACTIONS
from interactions.errors import Conflict, InvalidRequest
from interactions.followups.events import followup_event
from interactions.followups.models import Followup, FollowupState
from interactions.idempotency import appended, first_answer, keyed
from interactions.placement.models import PlacedThread
from interactions.privacy.redaction import redact_event


class FollowupConflict(Conflict):
    """The follow-up is not in a state that allows this (closing a closed one)."""


@dataclass(frozen=True)
class Done:
    """A command's answer: the follow-up as it stands, and the log position of the step it recorded (or, for
    a repeat, of the first request's)."""

    followup: Followup
    position: int
    callback: Callback | None = None


def _refused(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{field}: {message}", extra={"errors": [{"field": field, "message": message}]})


def _locked(followup_id: uuid.UUID | str) -> tuple[Followup, PlacedThread]:
    """The follow-up's row, locked until the transaction ends, and its thread as placement has it now."""
    row = Followup.objects.select_for_update().filter(pk=followup_id).first()
    if row is None:
        raise NotFound(f"no follow-up {followup_id}")
    return row, PlacedThread.objects.get(pk=row.thread_id)


def followup_close(
    *,
    followup_id: uuid.UUID | str,
    actor: ApiToken,
    action: str,
    note: str | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Done:
    """Close a follow-up with what was done (`action`: called_back, credited, explained, escalated) and an
    optional note. An open or breached follow-up may be closed; a closed one is a FollowupConflict (409),
    unless this is a repeat of the request that closed it with the same idempotency key."""
    require_may_act_on_followups(actor)
    if action not in FOLLOWUP_ACTIONS:
        raise _refused("action", f"one of {', '.join(FOLLOWUP_ACTIONS)}")
    if note is not None and len(note) > REMARK_MAX:
        raise _refused("note", f"at most {REMARK_MAX} characters")
    now = now or timezone.now()
    with transaction.atomic():
        row, thread = _locked(followup_id)
        data = {
            "action": action,
            "note": note,
            "agent_id": str(actor.pk),
            "breached": row.state == FollowupState.BREACHED,
        }
        event = followup_event(row, thread, "closed", "closed", data, now, actor)
        event = keyed(redact_event(event), actor, idempotency_key)
        # A repeat is the same close of the same follow-up; whether it had breached then is the log's word.
        compared = ("followup_id", "action", "note")
        if first := first_answer(event, idempotency_key, compared=compared):
            return Done(row, first.position)
        if row.state == FollowupState.CLOSED:
            raise FollowupConflict(f"follow-up {row.pk} is closed already ({row.action})")
        result = store.append([event], expected_versions={event.stream: row.version})[0]
        recorded = appended(result, event, idempotency_key, compared=compared)
        row.refresh_from_db()
    return Done(row, recorded.position)


@dataclass(frozen=True)
class CallbackWindow:
    """When and where to call the customer back, as a callback request says it (interactions.callbacks)."""

    phone: str | None = None
    at: datetime | None = None
    window_end: datetime | None = None
    timezone: str | None = None
    reason: str | None = None


def followup_callback(
    *,
    followup_id: uuid.UUID | str,
    actor: ApiToken,
    window: CallbackWindow,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Done:
    """Request a callback to the customer for a follow-up through the callback flow (on the follow-up's
    thread; its number defaults to the survey's subject when that is a `tel:`), and record the link on the
    follow-up (`followup.callback_requested`), both in one transaction. The follow-up stays open until it is
    closed. A closed one is a FollowupConflict; a repeat with the same idempotency key answers the first."""
    require_may_act_on_followups(actor)
    now = now or timezone.now()
    with transaction.atomic():
        row, thread = _locked(followup_id)
        if row.state == FollowupState.CLOSED and idempotency_key is None:
            raise FollowupConflict(
                f"follow-up {row.pk} is closed ({row.action}): nobody is waiting for a call"
            )
        phone = window.phone or (row.subject if row.subject.startswith("tel:") else None)
        if phone is None:
            raise _refused("phone", "the number to call: the survey's customer was not identified by one")
        callback = callback_request(
            actor=actor,
            request=RequestInput(
                identifier=row.subject,
                phone=phone,
                thread_id=row.thread_id,
                reason=window.reason if window.reason is not None else f"Follow-up: {row.reason}",
                at=window.at,
                window_end=window.window_end,
                timezone=window.timezone,
                followup_id=row.pk,
            ),
            now=now,
            idempotency_key=idempotency_key,
        )
        key = (HUB_SOURCE, f"{row.pk}/callback/{callback.pk}")
        if (found := log.existing([key]).get(key)) is not None:
            return Done(row, found.position, callback)  # the same request again (its key found the callback)
        if row.state == FollowupState.CLOSED:
            raise FollowupConflict(
                f"follow-up {row.pk} is closed ({row.action}): nobody is waiting for a call"
            )
        data = {"callback_id": str(callback.pk), "agent_id": str(actor.pk)}
        event = followup_event(row, thread, "callback_requested", f"callback/{callback.pk}", data, now, actor)
        recorded: RecordedEvent = store.append([event], expected_versions={event.stream: row.version})[
            0
        ].event
        row.refresh_from_db()
    return Done(row, recorded.position, callback)
