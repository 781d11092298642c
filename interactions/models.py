"""Rows of the domain: API tokens, agent sockets (operational), and read models projected from the log."""

from __future__ import annotations

import uuid

from django.db import models


class Role(models.TextChoices):
    INTEGRATION = "integration", "Integration (posts events for its source prefix)"
    AGENT = "agent", "Agent"
    SUPERVISOR = "supervisor", "Supervisor"
    ADMIN = "admin", "Administrator"


class ApiToken(models.Model):
    """A bearer token. Only its SHA-256 digest is stored; the token itself is shown once, at creation."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=128)
    role = models.CharField(max_length=16, choices=Role.choices)
    source_prefix = models.CharField(
        max_length=1024,
        blank=True,
        default="",
        help_text="Integration tokens may only post events whose source starts with this prefix.",
    )
    skills = models.JSONField(default=list, blank=True, help_text="Agent skills, e.g. billing, tech.")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=16, editable=False, help_text="The token's first characters.")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "interactions_api_token"

    def __str__(self) -> str:
        return f"{self.name} ({self.role}, {self.hint}…)"

    # DRF treats request.user as this object: these make it behave like an authenticated principal.
    @property
    def is_authenticated(self) -> bool:
        return True


# --- Read models: projections of the log (interactions.projectors), rebuilt by `rebuild_projections`. ------


class Customer(models.Model):
    """One person behind many identifiers. A merged customer points at its survivor and keeps resolving."""

    id = models.UUIDField(primary_key=True)
    created_at = models.DateTimeField()
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=200, blank=True, default="")
    language = models.CharField(max_length=35, blank=True, default="")
    timezone = models.CharField(max_length=64, blank=True, default="")
    segment = models.CharField(max_length=64, blank=True, default="")
    birthday = models.DateField(null=True, blank=True)
    preferences = models.JSONField(default=dict)
    consent = models.JSONField(default=dict)
    channel_counts = models.JSONField(default=dict)
    first_contact_at = models.DateTimeField(null=True, blank=True)
    last_contact_at = models.DateTimeField(null=True, blank=True)
    # {"csat": [{"score": 4, "at": "...", "position": 12}, ...]}: the last answers per metric, oldest first.
    surveys = models.JSONField(default=dict)

    class Meta:
        db_table = "interactions_customer"

    def __str__(self) -> str:
        return f"customer {self.id}"


class CustomerIdentifier(models.Model):
    """A normalised identifier URI and the customer it resolves to."""

    uri = models.CharField(max_length=320, primary_key=True)
    kind = models.CharField(max_length=16)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identifiers")
    added_at = models.DateTimeField()

    class Meta:
        db_table = "interactions_customer_identifier"
        indexes = [models.Index(fields=["customer", "added_at"], name="ix_identifier_customer")]

    def __str__(self) -> str:
        return self.uri


class ThreadStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class Thread(models.Model):
    """One customer objective across any number of channels."""

    id = models.UUIDField(primary_key=True)
    # No index of its own: ix_thread_customer_status starts with the customer. Every event rewrites its
    # thread's row, and each index is one more entry to write per rewrite.
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="threads", db_index=False)
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
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="+")

    class Meta:
        db_table = "interactions_conversation_ref"

    def __str__(self) -> str:
        return self.ref


class TimelineEntry(models.Model):
    """One channel event on a thread, in the shape a desktop shows it."""

    position = models.BigIntegerField(primary_key=True)
    # No index of its own: ix_timeline_thread_time starts with the thread, and a third index on the
    # busiest read-model table only slowed every write.
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="timeline", db_index=False)
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


class AgentPresence(models.Model):
    """An agent's status, projected from agent.status_changed events."""

    agent_id = models.CharField(max_length=64, primary_key=True)
    status = models.CharField(max_length=16)
    changed_at = models.DateTimeField()
    # For routing: among equals, the agent offered a callback least recently gets the next one.
    last_offered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "interactions_agent_presence"

    def __str__(self) -> str:
        return f"{self.agent_id}: {self.status}"


class AgentSocket(models.Model):
    """An open websocket of an agent (operational state, not a projection): who is still connected."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    agent = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="+")
    connected_at = models.DateTimeField(auto_now_add=True)
    # Refreshed while the socket lives; a row not seen for a while belongs to a process that died.
    seen_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "interactions_agent_socket"

    def __str__(self) -> str:
        return f"socket {self.id} of {self.agent_id}"


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
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="callbacks")
    phone = models.CharField(max_length=64)
    reason = models.TextField(blank=True, default="")
    timezone = models.CharField(max_length=64, blank=True, default="", help_text="The customer's zone.")
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
    # Agents offered this attempt already (declined or let the offer lapse): the next offer goes elsewhere.
    tried_agents = models.JSONField(default=list)
    # [{"attempt": 1, "agent_id": "...", "outcome": "no_answer", "at": "..."}], oldest first.
    outcomes = models.JSONField(default=list)
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
