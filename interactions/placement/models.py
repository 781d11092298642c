"""The write model of placement: what deciding an event's customer and thread reads, kept current inline.

These rows change in the append's own transaction (interactions.placement.projector), so placement always
decides against every event before it, however far the asynchronous read models lag. They hold only what
placement and the thread commands decide from; profiles, timelines and counts are read models.
"""

from __future__ import annotations

from django.db import models


class PlacedCustomer(models.Model):
    id = models.UUIDField(primary_key=True)
    created_at = models.DateTimeField(help_text="The older of two merged customers survives.")
    merged_into = models.UUIDField(null=True, blank=True)

    class Meta:
        db_table = "placement_customer"

    def __str__(self) -> str:
        return f"customer {self.id}"


class PlacedIdentifier(models.Model):
    uri = models.CharField(max_length=320, primary_key=True)
    customer_id = models.UUIDField()

    class Meta:
        db_table = "placement_identifier"

    def __str__(self) -> str:
        return self.uri


class PlacedThread(models.Model):
    id = models.UUIDField(primary_key=True)
    customer_id = models.UUIDField()
    topic = models.CharField(max_length=120, blank=True, default="")
    status = models.CharField(max_length=16)
    opened_at = models.DateTimeField()
    # Null until activity reaches the thread: one opened by a note, a survey answer or a status has none,
    # so the customer's next contact does not join it by rule 3.
    last_activity_at = models.DateTimeField(null=True, blank=True)
    # When thread.idled marked it idle; cleared by its next activity, a resolve or a reopen. `status` stays
    # open meanwhile: placement decides from status and activity alone, so idling changes no decision. The
    # thread commands read it (reopening an idle thread is allowed), and the idling task skips such threads.
    idled_at = models.DateTimeField(null=True, blank=True)
    # When it was last reopened: a reopened thread is quiet only a window after that, not at once.
    reopened_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "placement_thread"
        indexes = [
            models.Index(fields=["customer_id", "status", "last_activity_at"], name="ix_placed_thread")
        ]

    def __str__(self) -> str:
        return f"thread {self.id} ({self.status})"


class PlacedRef(models.Model):
    """A channel's own conversation key (e-mail Message-ID, chat session, call id) and the thread it is on."""

    ref = models.CharField(max_length=998, primary_key=True)
    thread_id = models.UUIDField()

    class Meta:
        db_table = "placement_ref"

    def __str__(self) -> str:
        return self.ref
