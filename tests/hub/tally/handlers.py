"""Two subscriptions of test events: `tally` fails on poison until it is fixed; `mirror` never fails."""

from __future__ import annotations

from django.db import connection

from hub.events import RecordedEvent
from tests.hub.tally.models import Fixed, Gate, Tallied

TYPES = frozenset({"tally.counted", "tally.poison"})


class Tally:
    name = "tally"
    types = TYPES

    def apply_all(self, events: list[RecordedEvent]) -> None:
        poison = [e.position for e in events if e.type == "tally.poison"]
        fixed = set(Fixed.objects.filter(position__in=poison).values_list("position", flat=True))
        for event in events:
            if event.type == "tally.poison" and event.position not in fixed:
                raise ValueError(f"cannot count poison at {event.position}")
        Tallied.objects.bulk_create(
            [Tallied(subscription=self.name, position=e.position, type=e.type) for e in events]
        )
        if connection.vendor == "postgresql":  # the gate: see Gate
            list(Gate.objects.select_for_update().filter(id=1).values_list("id"))

    def reset(self) -> None:
        Tallied.objects.filter(subscription=self.name).delete()


class Mirror:
    name = "mirror"
    types = TYPES

    def apply_all(self, events: list[RecordedEvent]) -> None:
        Tallied.objects.bulk_create(
            [Tallied(subscription=self.name, position=e.position, type=e.type) for e in events]
        )

    def reset(self) -> None:
        Tallied.objects.filter(subscription=self.name).delete()
