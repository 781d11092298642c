"""Read models of task threads: a thread per objective, its conversation keys and its timeline."""

from __future__ import annotations

from django.db import models

from interactions.catalogue import ThreadStatus
from interactions.customers.models import Customer


class Thread(models.Model):
    """One customer objective across any number of channels."""

    id = models.UUIDField(primary_key=True)
    # No index of its own: ix_thread_customer_status starts with the customer. Every event rewrites its
    # thread's row, and each index is one more entry to write per rewrite.
    # No database constraint: customers and threads are two projections, each with its own checkpoint, so a
    # thread may briefly name a customer its projection has not applied yet (or one stopped by a failure).
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="threads", db_index=False, db_constraint=False
    )
    topic = models.CharField(max_length=120, blank=True, default="")
    status = models.CharField(max_length=16, choices=ThreadStatus.choices, default=ThreadStatus.OPEN)
    opened_at = models.DateTimeField()
    last_activity_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    assigned_agent = models.CharField(max_length=128, blank=True, default="")
    channels = models.JSONField(default=list)
    event_count = models.IntegerField(default=0)
    last_position = models.BigIntegerField(default=0)
    version = models.BigIntegerField(
        default=0, help_text="The thread stream's version (for expected_version)."
    )

    class Meta:
        db_table = "interactions_thread"
        indexes = [
            models.Index(fields=["customer", "status", "last_activity_at"], name="ix_thread_customer_status"),
            models.Index(fields=["status", "last_activity_at"], name="ix_thread_status_activity"),
        ]

    def __str__(self) -> str:
        return f"thread {self.id} ({self.status})"


class ConversationRef(models.Model):
    """A channel's own conversation key (e-mail Message-ID, chat session, call id) seen on a thread."""

    ref = models.CharField(max_length=998, primary_key=True)
    # No database constraints on the read models' own references: their projector keeps them true, and
    # PostgreSQL checked each deferred constraint at COMMIT, a lookup per row written, on a thread table a
    # replay updates all the time (measured: COMMITs of 0.4-0.9 s per 500 events while replaying 1.2M).
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="+", db_constraint=False)

    class Meta:
        db_table = "interactions_conversation_ref"

    def __str__(self) -> str:
        return self.ref


class TimelineEntry(models.Model):
    """One channel event on a thread, in the shape a desktop shows it."""

    position = models.BigIntegerField(primary_key=True)
    # No index of its own: ix_timeline_thread_time starts with the thread, and a third index on the
    # busiest read-model table only slowed every write.
    thread = models.ForeignKey(  # no database constraint: see ConversationRef.thread
        Thread, on_delete=models.CASCADE, related_name="timeline", db_index=False, db_constraint=False
    )
    occurred_at = models.DateTimeField()
    type = models.CharField(max_length=64)
    channel = models.CharField(max_length=16)
    direction = models.CharField(max_length=16, blank=True, default="")
    text = models.TextField(blank=True, default="")
    agent_id = models.CharField(max_length=128, blank=True, default="")
    source = models.CharField(max_length=1024)
    event_id = models.CharField(max_length=256)
    details = models.JSONField(default=dict)

    class Meta:
        db_table = "interactions_timeline_entry"
        indexes = [
            models.Index(fields=["thread", "occurred_at", "position"], name="ix_timeline_thread_time"),
            models.Index(fields=["thread", "channel"], name="ix_timeline_thread_channel"),
        ]

    def __str__(self) -> str:
        return f"#{self.position} {self.type}"
