"""Read models of customers: one person behind many identifiers (projected from the log)."""

from __future__ import annotations

from django.db import models


class Customer(models.Model):
    """One person behind many identifiers. A merged customer points at its survivor and keeps resolving."""

    id = models.UUIDField(primary_key=True)
    created_at = models.DateTimeField()
    # No database constraints on the read models' own references (see threads.models.ConversationRef).
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    name = models.CharField(max_length=200, blank=True, default="")
    language = models.CharField(max_length=35, blank=True, default="")
    timezone = models.CharField(max_length=64, blank=True, default="")
    segment = models.CharField(max_length=64, blank=True, default="")
    birthday = models.DateField(null=True, blank=True)
    preferences = models.JSONField(default=dict)
    consent = models.JSONField(default=dict)
    # When each key of `preferences` and `consent` was stated ({"consent": {"marketing": "<UTC ISO time>"}}):
    # the later statement holds, whatever order events arrive in, and when a merge brings two histories
    # together (a withdrawal of consent on the merged customer outlived the survivor's older yes).
    stated_at = models.JSONField(default=dict)
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
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="identifiers", db_constraint=False
    )
    added_at = models.DateTimeField()

    class Meta:
        db_table = "interactions_customer_identifier"
        indexes = [models.Index(fields=["customer", "added_at"], name="ix_identifier_customer")]

    def __str__(self) -> str:
        return self.uri
