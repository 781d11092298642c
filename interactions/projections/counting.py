"""How the `analytics` subscription counts (interactions/projections/analytics.py and journeys.py): rows
keyed by a hash of what they are counted by, and counts added to them in the unit of work."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any


def hour_of(at: datetime) -> datetime:
    """The UTC hour `at` falls in."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def row_key(fields: dict[str, Any]) -> str:
    """The key of the row counted by `fields` (their values in order): a sha256, so every spelling of a
    long topic or segment fits the key column."""
    identity = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in fields.values()])
    return hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()


def add_to(rows: Any, kind: str, key: str, fields: dict[str, Any], counts: dict[str, int]) -> None:
    """Add `counts` to the `kind` row of `key` (added with `fields` when the unit of work `rows` has none)."""
    row = rows.facts(kind, key, rows.tables[kind][0], **fields)
    for name, value in counts.items():
        setattr(row, name, getattr(row, name) + value)
    rows.touch(kind, key)
