"""The follow-ups table: a projection of each follow-up's `followup-<id>` stream, which the close and callback
commands and the SLA task decide from."""

from __future__ import annotations

from django.db import models


class FollowupState(models.TextChoices):
    OPEN = "open", "Open (within its SLA, or past it and not yet recorded as breached)"
    BREACHED = "breached", "Breached (past its SLA, not closed yet)"
    CLOSED = "closed", "Closed"


class Followup(models.Model):
    """One follow-up and where it stands.

    Applied inline, in the append's transaction (interactions.projections.followups), so a command reads it
    current; `version` is the stream's version, which every transition appends against. Log positions are
    not kept here (inline projections run before positions are handed out): the survey's is read from the
    log by its (source, id).
    """

    id = models.UUIDField(primary_key=True)
    # No database constraints: follow-ups and threads are separate projections.
    thread_id = models.UUIDField()
    customer_id = models.UUIDField(help_text="The customer when it opened; placement knows any merge since.")
    subject = models.TextField(help_text="The survey's subject: the customer's identifier.")
    survey_source = models.TextField()
    survey_event_id = models.TextField()
    metric = models.CharField(max_length=8)
    score = models.IntegerField()
    comment = models.TextField(blank=True, default="")
    survey_id = models.CharField(max_length=128, blank=True, default="")
    reason = models.TextField()
    state = models.CharField(max_length=16, choices=FollowupState.choices)
    opened_at = models.DateTimeField()
    due_at = models.DateTimeField()
    breached_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.CharField(max_length=64, blank=True, default="")
    action = models.CharField(max_length=16, blank=True, default="")
    note = models.TextField(blank=True, default="")
    # [{"callback_id": "...", "agent_id": "...", "at": "..."}], oldest first.
    callbacks = models.JSONField(default=list)
    version = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "followups_followup"
        indexes = [
            models.Index(fields=["state", "due_at"], name="ix_followup_due"),
            models.Index(fields=["state", "opened_at"], name="ix_followup_opened"),
        ]

    def __str__(self) -> str:
        return f"follow-up {self.id} ({self.state})"
