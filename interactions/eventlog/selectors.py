"""One page of the log for a token: the integration's own sources, or the whole log."""

from __future__ import annotations

from typing import Any

from hub import log
from interactions.access.models import ApiToken
from interactions.access.rules import log_source_filter, require_may_read_log
from interactions.errors import InvalidRequest


def log_page(*, token: ApiToken, after: int, limit: int) -> dict[str, Any]:
    """One page of the log after `after`, limited to the token's sources for integration tokens."""
    require_may_read_log(token)
    events = log.read_after(after, limit=limit + 1, source_prefix=log_source_filter(token))
    # A cursor past the end (from another database, a restored backup, a typo) would skip the events that
    # take those positions later: refused, as the websocket refuses it. Asked only of an empty page.
    if not events and after > (end := log.last_position()):
        message = f"past the end of the log ({end}); read on from {end}"
        raise InvalidRequest(
            f"after is {message}", extra={"errors": [{"field": "after", "message": message}]}
        )
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
