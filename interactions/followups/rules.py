"""The follow-up rule: which survey answers open a follow-up, and the `followup.opened` event that opens it.

Decided at ingestion, where placement decides the hub's other caused events, and appended in the same append
as the survey answer: both are written, or neither. The follow-up's id (and so its event's) is derived from
the answer's own (source, id), so an answer posted again, which the log refuses as a duplicate, opens none.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from hub.events import NewEvent
from interactions.catalogue import hub_event

# The words each metric's rule is read with, for the `reason` a supervisor reads.
_NAMES = {"csat": "CSAT", "nps": "NPS", "ces": "CES"}
_MEANING = {
    "csat": "a bottom-box satisfaction score",
    "nps": "a detractor",
    "ces": "a high-effort answer (7 is the easiest)",
}
_SCALES = {"csat": 1, "nps": 0, "ces": 1}  # the lowest score of each scale
# The namespace of follow-up ids derived from a survey answer's (source, id).
_NAMESPACE = uuid.UUID("8a0f7a55-2c1d-4f43-9c53-6b1f0e3c9d21")


def followup_id_for(source: str, event_id: str) -> uuid.UUID:
    """The id of the follow-up a survey answer opens: the same answer always gives the same id."""
    return uuid.uuid5(_NAMESPACE, f"{source}\n{event_id}")


def rule_met(metric: str, score: int) -> tuple[dict[str, Any], str] | None:
    """(the rule as recorded, the reason) when this answer opens a follow-up under the current settings."""
    highest = settings.THREADLINE_FOLLOWUP_RULE.get(metric)
    if highest is None or score > highest:
        return None
    low = _SCALES[metric]
    band = f"{low}-{highest}" if highest != low else str(low)
    reason = f"{_NAMES[metric]} {score} is {_MEANING[metric]} ({band} opens a follow-up)"
    return {"metric": metric, "max": highest}, reason


def opened_by(survey: NewEvent, *, now: datetime) -> list[NewEvent]:
    """The `followup.opened` a placed survey answer causes (none if the rule is not met).

    `survey` is the answer as it will be appended, placed (its metadata names its customer and thread). The
    SLA runs from `now`, when the hub received the answer: one posted late is still given its whole hour.
    """
    if survey.type != "survey.answered":
        return []
    data = survey.data
    met = rule_met(data["metric"], data["score"])
    if met is None:
        return []
    rule, reason = met
    followup_id = str(followup_id_for(survey.source, survey.id))
    sla = float(settings.THREADLINE_FOLLOWUP_SLA_SECONDS)
    opened = {
        "followup_id": followup_id,
        "thread_id": survey.metadata["thread_id"],
        "customer_id": survey.metadata["customer_id"],
        "survey": {
            "source": survey.source,
            "id": survey.id,
            "metric": data["metric"],
            "score": data["score"],
            "comment": data.get("comment"),
            "survey_id": data.get("survey_id"),
        },
        "reason": reason,
        "rule": rule,
        "sla_seconds": sla,
        "due_at": (now + timedelta(seconds=sla)).isoformat(),
    }
    event = hub_event("followup.opened", f"followup-{followup_id}", opened, cause=survey, at=now)
    metadata = {
        **event.metadata,
        "customer_id": survey.metadata["customer_id"],
        "thread_id": survey.metadata["thread_id"],
    }
    return [replace(event, id=f"{followup_id}/opened", metadata=metadata)]
