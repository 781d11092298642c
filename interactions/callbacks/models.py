"""The callback table: a projection of each callback's stream, which the dispatcher claims work from."""

from __future__ import annotations

from django.db import models

from interactions.threads.models import Thread


class CallbackState(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled (waiting for its time, or for an agent)"
    OFFERED = "offered", "Offered to an agent"
    ACCEPTED = "accepted", "Accepted: the agent is calling"
    COMPLETED = "completed", "Completed"
    EXPIRED = "expired", "Expired (its window ended, or every attempt failed)"
    CANCELLED = "cancelled", "Cancelled"


class Callback(models.Model):
    """A requested callback and where it stands: the table the dispatcher claims due work from.

    A projection of the `callback-<id>` stream like every read model; `version` is that stream's version,
    which each transition appends against, so two claimants can never both move it on.
    """

    ACTIVE = (CallbackState.SCHEDULED, CallbackState.OFFERED, CallbackState.ACCEPTED)

    id = models.UUIDField(primary_key=True)
    # No database constraint: callbacks and threads are separate projections (see Thread.customer).
    thread = models.ForeignKey(
        Thread, on_delete=models.CASCADE, related_name="callbacks", db_constraint=False
    )
    phone = models.CharField(max_length=64)
    reason = models.TextField(blank=True, default="")
    timezone = models.CharField(
        max_length=64, blank=True, default="", help_text="The customer's zone when it was requested."
    )
    # The zone the request named, if it named one: it holds for good. Without it the customer's current
    # profile zone applies at each step (see selectors.callback_zone), so a zone learnt later is used.
    requested_timezone = models.CharField(max_length=64, blank=True, default="")
    requested_at = models.DateTimeField()
    requested_by = models.CharField(max_length=64)
    not_before = models.DateTimeField()
    window_end = models.DateTimeField()
    state = models.CharField(max_length=16, choices=CallbackState.choices)
    due_at = models.DateTimeField()
    attempt = models.IntegerField(default=1)
    offer = models.IntegerField(default=0, help_text="Offers made in this attempt.")
    agent_id = models.CharField(max_length=64, blank=True, default="", help_text="Offered to, or calling.")
    offer_expires_at = models.DateTimeField(null=True, blank=True)
    # When the latest attempt was accepted, and when its missing outcome was declared overdue
    # (callback.outcome_overdue); each acceptance sets the first and clears the second.
    accepted_at = models.DateTimeField(null=True, blank=True)
    overdue_at = models.DateTimeField(null=True, blank=True)
    # Agents offered this attempt already (declined or let the offer lapse): the next offer goes elsewhere.
    tried_agents = models.JSONField(default=list)
    # [{"attempt": 1, "agent_id": "...", "outcome": "no_answer", "at": "..."}], oldest first.
    outcomes = models.JSONField(default=list)
    # The version of the `callback-<id>` stream this row reflects. Log positions are not kept here: the
    # append's inline projections run before positions are handed out (see hub.store); `callback_positions`
    # reads them from the log by (stream, version).
    version = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "interactions_callback"
        indexes = [
            models.Index(fields=["state", "due_at"], name="ix_callback_due"),
            models.Index(fields=["state", "offer_expires_at"], name="ix_callback_offer"),
            models.Index(fields=["agent_id", "state"], name="ix_callback_agent"),
        ]

    def __str__(self) -> str:
        return f"callback {self.id} ({self.state})"
