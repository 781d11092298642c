"""The next-best-action take-up projection: per rule, how often agents took it up and dismissed it."""

from __future__ import annotations

from hub.events import RecordedEvent
from hub.rows import RowProjector, UnitOfWork
from interactions.nba.models import RuleTakeUp


class TakeUpRows(UnitOfWork):
    tables = {"rule": (RuleTakeUp, ["taken", "dismissed", "last_at"])}
    kept = ("rule",)


def apply_nba_answer(rows: TakeUpRows, event: RecordedEvent) -> None:
    rule_id = event.data["rule_id"]
    row = rows.rows["rule"].get(rule_id)
    if row is None:
        row = RuleTakeUp(rule_id=rule_id)
        rows.add("rule", rule_id, row)
    if event.type == "nba.taken":
        row.taken += 1
    else:
        row.dismissed += 1
    row.last_at = max(row.last_at, event.occurred_at) if row.last_at else event.occurred_at
    rows.touch("rule", rule_id)


class NbaTakeUpProjector(RowProjector):
    name = "nba"
    unit = TakeUpRows
    handlers = {"nba.taken": apply_nba_answer, "nba.dismissed": apply_nba_answer}
    tables = (RuleTakeUp,)

    def prefetch(self, unit: UnitOfWork, events: list[RecordedEvent]) -> None:
        unit.load("rule", {event.data["rule_id"] for event in events})
