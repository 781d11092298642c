"""Idempotency keys of commands: a client that sends a command again (its answer was lost, a double click)
sends the same `Idempotency-Key`, and the command is done once.

The key never reaches the log: the command's event id is a hash of who sent it and the key, so the log's own
exactly-once rule ((source, id) is unique) makes a repeat find the first event. A repeat is answered as the
first request was; the same key for a different request (another note's text) is refused, so that a client
reusing keys by mistake does not have its second command silently dropped.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from dataclasses import replace

from hub import log
from hub.events import AppendResult, NewEvent, RecordedEvent
from interactions.access.models import ApiToken
from interactions.errors import Conflict, InvalidRequest

HEADER = "Idempotency-Key"
_KEY = re.compile(r"\A[\x21-\x7e]{1,255}\Z")  # visible ASCII, as HTTP field values are safely written


class IdempotencyKeyReused(Conflict):
    """This key was used for another request by the same client."""


def checked_key(value: str | None) -> str | None:
    """The header's value, or None when it was not sent; InvalidRequest, naming it, when it is malformed."""
    if value is None:
        return None
    if not _KEY.match(value):
        message = "1 to 255 visible ASCII characters (a UUID serves well)"
        raise InvalidRequest(
            f"{HEADER} must be {message}", extra={"errors": [{"field": HEADER, "message": message}]}
        )
    return value


def keyed(event: NewEvent, actor: ApiToken, key: str | None) -> NewEvent:
    """The event with an id derived from the client and the key (unchanged without one). A key is the
    client's, whatever the command: used again for another command, or on another thread, it finds the first
    request's event, which is not this one, and the request is refused."""
    if key is None:
        return event
    text = f"{actor.pk}\n{key}"
    digest = base64.b32encode(hashlib.sha256(text.encode()).digest()).decode().lower().rstrip("=")
    return replace(event, id=f"idem-{digest}")


def keyed_uuid(actor: ApiToken, key: str) -> uuid.UUID:
    """An id derived from the client and the key, for what a command creates (a callback)."""
    return uuid.UUID(bytes=hashlib.sha256(f"{actor.pk}\n{key}".encode()).digest()[:16], version=4)


def first_answer(
    event: NewEvent, key: str | None, *, compared: tuple[str, ...] | None = None, same_stream: bool = False
) -> RecordedEvent | None:
    """The event a first request with this key appended, or None; IdempotencyKeyReused when that request
    was not this one (another type, or other data: the `compared` fields of it, default all; with
    `same_stream`, another stream: a command on another thread, whose data need not name it)."""
    if key is None:
        return None
    found = log.existing([(event.source, event.id)]).get((event.source, event.id))
    if found is not None:
        _same_request(found, event, compared, same_stream)
    return found


def appended(
    result: AppendResult,
    event: NewEvent,
    key: str | None,
    *,
    compared: tuple[str, ...] | None = None,
    same_stream: bool = False,
) -> RecordedEvent:
    """The event an append of a keyed command recorded. A request with the same key that committed between
    `first_answer` and this append (one on another customer's thread, under another lock) makes the log
    answer with its event as a duplicate: this request is then refused, not answered as if done."""
    if key is not None and result.duplicate:
        _same_request(result.event, event, compared, same_stream)
    return result.event


def _same_request(
    found: RecordedEvent, event: NewEvent, compared: tuple[str, ...] | None, same_stream: bool = False
) -> None:
    keys = compared if compared is not None else tuple(set(found.data) | set(event.data))
    other_stream = same_stream and found.stream != event.stream
    if other_stream or found.type != event.type or any(found.data.get(k) != event.data.get(k) for k in keys):
        raise reused()


def reused() -> IdempotencyKeyReused:
    """The refusal of a key its first request used for another request."""
    return IdempotencyKeyReused(
        f"this {HEADER} was used for another request; send a new key with a new request"
    )
