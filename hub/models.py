"""The stored event: one row per event, in log order, never updated or deleted."""

from django.db import models


class StoredEvent(models.Model):
    """One CloudEvent in the log. The database refuses UPDATE and DELETE on this table (see migrations)."""

    # The order of the log. Appends are serialised (see hub.store), so a reader that has seen position N
    # never later finds an event below N.
    position = models.BigAutoField(primary_key=True)
    source = models.CharField(max_length=1024)
    event_id = models.CharField(max_length=256)
    type = models.CharField(max_length=256)
    subject = models.CharField(max_length=1024, blank=True, default="")
    stream = models.CharField(max_length=256)
    stream_version = models.BigIntegerField()
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField()
    schema_version = models.PositiveSmallIntegerField(default=1)
    data = models.JSONField()
    metadata = models.JSONField(default=dict)

    class Meta:
        db_table = "hub_event"
        ordering = ["position"]
        constraints = [
            # CloudEvents: source + id identify an event. The constraint is what makes re-posting harmless.
            models.UniqueConstraint(fields=["source", "event_id"], name="hub_event_source_id_uniq"),
            models.UniqueConstraint(
                fields=["stream", "stream_version"], name="hub_event_stream_version_uniq"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.position} {self.type} ({self.source} {self.event_id})"


# A read model's rows are what its projector's code made of the log. A projector declares a `version`, raised
# whenever a change would make different rows of the same events; each row records the version that built
# the read model (the projector's version when the row was made, which is when it first applied the log, or
# when a rebuild last replayed the whole log). Rows made before versions existed hold 1, every projector's
# first version. An older one means the read model mixes what two versions made: rebuild it.
BUILT_VERSION_HELP = "The projector's version that built these rows (a rebuild sets it to the current one)."


class ProjectionCheckpoint(models.Model):
    """How far a projection has applied the log. Advanced in the same transaction as its read-model writes."""

    name = models.CharField(max_length=128, primary_key=True)
    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)
    # The last failure while applying (empty when healthy); the projection stays at `position` until fixed.
    last_error = models.TextField(blank=True, default="")
    failed_position = models.BigIntegerField(null=True, blank=True)
    built_version = models.PositiveIntegerField(default=1, db_default=1, help_text=BUILT_VERSION_HELP)

    class Meta:
        db_table = "hub_projection_checkpoint"

    def __str__(self) -> str:
        return f"{self.name} @ {self.position}"


class SubscriptionState(models.TextChoices):
    RUNNING = "running", "Running: applies the log as it grows"
    PARKED = "parked", "Parked: an event failed; retried with backoff until an operator resumes or skips"


class Subscription(models.Model):
    """A durable consumer of the log: how far it has applied, who runs it, and why it stopped if it did.

    Its handler's database effects and the advance of `position` commit in one transaction, and the advance
    only succeeds from the position the runner read and under its lease (see hub.subscriptions): a crash
    between them replays nothing twice and loses nothing.
    """

    name = models.CharField(max_length=128, primary_key=True)
    position = models.BigIntegerField(default=0, help_text="The last log position applied.")
    state = models.CharField(
        max_length=16, choices=SubscriptionState.choices, default=SubscriptionState.RUNNING
    )
    # The runner that holds it and until when; another runner takes over an expired lease.
    lease_owner = models.CharField(max_length=128, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    # The last failure: the event, the error, how many tries, and when the next one is due.
    failed_position = models.BigIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    attempts = models.IntegerField(default=0)
    retry_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    built_version = models.PositiveIntegerField(default=1, db_default=1, help_text=BUILT_VERSION_HELP)

    class Meta:
        db_table = "hub_subscription"

    def __str__(self) -> str:
        return f"{self.name} @ {self.position} ({self.state})"


class SkippedEvent(models.Model):
    """An event an operator told a subscription to skip: the record of that decision (a dead letter)."""

    id = models.BigAutoField(primary_key=True)
    subscription = models.CharField(max_length=128)
    position = models.BigIntegerField()
    error = models.TextField(blank=True, default="")
    reason = models.TextField()
    skipped_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "hub_skipped_event"
        constraints = [
            models.UniqueConstraint(fields=["subscription", "position"], name="hub_skipped_event_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.subscription} skipped #{self.position}"
