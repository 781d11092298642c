"""The shapes of events crossing the kernel's surface: one to append, one as recorded, and the one conversion
from a log row to a recorded event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.upcasting import upcast

# expected_versions value meaning "this stream must not exist yet".
NO_STREAM = 0


def isoformat_z(at: datetime | str) -> str:
    """An instant as ISO 8601 text with UTC written `Z`, as CloudEvents, the API and the sockets write times
    (an ISO string is rewritten the same way; another offset is left as it is)."""
    text = at.isoformat() if isinstance(at, datetime) else at
    return text[: -len("+00:00")] + "Z" if text.endswith("+00:00") else text


@dataclass(frozen=True)
class NewEvent:
    """An event to append. `occurred_at` defaults to the time of the append."""

    source: str
    id: str
    type: str
    stream: str
    data: dict[str, Any]
    subject: str = ""
    occurred_at: datetime | None = None
    schema_version: int = 1
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedEvent:
    """An event as the log holds it, with its data in the current schema version."""

    position: int
    source: str
    id: str
    type: str
    subject: str
    stream: str
    stream_version: int
    occurred_at: datetime
    recorded_at: datetime
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]

    def to_cloudevent(self) -> dict[str, Any]:
        """The event in the CloudEvents JSON format, as stored (redacted), with its log position."""
        event: dict[str, Any] = {
            "specversion": "1.0",
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": isoformat_z(self.occurred_at),
            "datacontenttype": "application/json",
            "data": self.data,
        }
        if self.subject:
            event["subject"] = self.subject
        for name, value in (self.metadata.get("extensions") or {}).items():
            event.setdefault(name, value)
        return event


@dataclass(frozen=True)
class AppendResult:
    event: RecordedEvent
    duplicate: bool

    @property
    def position(self) -> int:
        return self.event.position


# The columns of hub_event in the order every reader selects them and `recorded` takes them.
LOG_FIELDS = (
    "position", "source", "event_id", "type", "subject", "stream", "stream_version", "occurred_at",
    "recorded_at", "schema_version", "data", "metadata",
)  # fmt: skip
LOG_COLUMNS = ", ".join(LOG_FIELDS)


class UnreadableEvent(ValueError):
    """A log row whose values are not an event's (data that is not a JSON object, say): unusable."""


def recorded(values: Sequence[Any]) -> RecordedEvent:
    """A RecordedEvent from the values of LOG_FIELDS, in that order, lifted to the current schema version.

    Every reader of the log (the store, the tailer, projections, a rebuild) turns rows into events here.
    Raises UnreadableEvent for a row whose values do not have an event's shape.
    """
    (position, source, event_id, type_, subject, stream, stream_version, occurred_at, recorded_at,
     schema_version, data, metadata) = values  # fmt: skip
    if not (
        isinstance(data, dict)
        and isinstance(metadata, dict)
        and isinstance(occurred_at, datetime)
        and isinstance(recorded_at, datetime)
        and isinstance(type_, str)
    ):
        raise UnreadableEvent(f"log position {position} holds no event (its data, metadata, type or times)")
    version, data = upcast(type_, schema_version, data)
    return RecordedEvent(
        position, source, event_id, type_, subject, stream, stream_version, occurred_at, recorded_at, version,
        data, metadata,
    )  # fmt: skip
