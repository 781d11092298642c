"""Rows the tally subscriptions write: one per event applied (unique, so a second application would fail)."""

from django.db import models


class Tallied(models.Model):
    subscription = models.CharField(max_length=64)
    position = models.BigIntegerField()
    type = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subscription", "position"], name="tally_once")]

    def __str__(self) -> str:
        return f"{self.subscription} #{self.position}"


class Fixed(models.Model):
    """A poison event an operator "fixed": the tally handler no longer fails on it."""

    position = models.BigIntegerField(primary_key=True)

    def __str__(self) -> str:
        return f"fixed #{self.position}"


class Gate(models.Model):
    """A row the tally handler locks after writing: a test that holds it keeps the handler there, after its
    writes and before its checkpoint advances and commits."""

    id = models.IntegerField(primary_key=True)

    def __str__(self) -> str:
        return f"gate {self.id}"
