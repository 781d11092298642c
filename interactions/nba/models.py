"""The take-up of each next best action rule: how often agents took it up and dismissed it (from the log)."""

from __future__ import annotations

from django.db import models


class RuleTakeUp(models.Model):
    rule_id = models.CharField(max_length=64, primary_key=True)
    taken = models.IntegerField(default=0)
    dismissed = models.IntegerField(default=0)
    last_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "nba_rule_take_up"

    def __str__(self) -> str:
        return f"{self.rule_id}: {self.taken} taken, {self.dismissed} dismissed"
