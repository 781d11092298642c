"""Reads of the domain: the log as an integration sees it."""

from __future__ import annotations

from typing import Any

from hub import store
from interactions.errors import Forbidden
from interactions.models import ApiToken
from interactions.tokens import log_source_filter, may_read_log


def log_page(*, token: ApiToken, after: int, limit: int) -> dict[str, Any]:
    """One page of the log after `after`, limited to the token's sources for integration tokens."""
    if not may_read_log(token):
        raise Forbidden(f"a {token.role} token may not read the raw log; read the customer context instead")
    events = store.read_after(after, limit=limit + 1, source_prefix=log_source_filter(token))
    has_more = len(events) > limit
    events = events[:limit]
    return {
        "events": [
            {
                "position": e.position,
                "stream": e.stream,
                "stream_version": e.stream_version,
                "schema_version": e.schema_version,
                "recorded_at": e.recorded_at,
                "metadata": e.metadata,
                "event": e.to_cloudevent(),
            }
            for e in events
        ],
        "next_after": events[-1].position if events else after,
        "has_more": has_more,
    }
