"""Reads of next best actions: the recommendations in a context answer, and each rule's take-up."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings

from interactions.nba.models import RuleTakeUp
from interactions.nba.rules import Situation, active_rules, evaluate


def next_best_actions(context: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    """The active rules' recommendations for this context answer at `now`, highest priority first."""
    return evaluate(active_rules(), Situation(context, now, settings.THREADLINE_BUSINESS_TIMEZONE))


def take_up_list() -> list[dict[str, Any]]:
    """Every rule of the file and every rule answered in the log, with its counts (rules of the file
    first, in its order)."""
    counts = {row.rule_id: row for row in RuleTakeUp.objects.all()}
    ids = [r.id for r in active_rules().rules]
    ids += sorted(set(counts) - set(ids))
    result = []
    for rule_id in ids:
        row = counts.get(rule_id)
        taken, dismissed = (row.taken, row.dismissed) if row else (0, 0)
        answered = taken + dismissed
        result.append(
            {
                "rule_id": rule_id,
                "in_file": rule_id in {r.id for r in active_rules().rules},
                "taken": taken,
                "dismissed": dismissed,
                "take_up": round(taken / answered, 3) if answered else None,
                "last_at": row.last_at if row else None,
            }
        )
    return result
