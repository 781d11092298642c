"""Connections (one provider account each) and the count of deliveries their hooks acknowledged unused."""

from __future__ import annotations

import uuid

from django.db import models

from interactions.connections import sealing
from interactions.connections.providers import PROVIDERS, source_of


class Connection(models.Model):
    """One provider account. Its secrets are never in clear here: sealed (Twilio's auth token, Meta's app
    secret and verify token, which the hub needs to verify signatures) or hashed (the e-mail bearer secret).
    Nothing prints them: not `repr`, not the admin, not an API answer."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.SlugField(max_length=64, unique=True, help_text="The name in the connection's hook URLs.")
    provider = models.CharField(max_length=16, choices=[(p, p) for p in PROVIDERS])
    sealed_secrets = models.TextField(blank=True, default="", editable=False)
    secret_digest = models.CharField(max_length=128, blank=True, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "connections_connection"
        ordering = ("name",)

    def __str__(self) -> str:
        return f"{self.name} ({self.provider})"

    def __repr__(self) -> str:
        return f"<Connection {self.name} ({self.provider}){' revoked' if self.revoked_at else ''}>"

    @property
    def source(self) -> str:
        return source_of(self.provider, self.name)

    def secret(self, key: str) -> str:
        """One of the sealed secrets, in clear, for verifying a delivery; never log or return it."""
        return sealing.unseal(self.sealed_secrets).get(key, "")


class IgnoredDelivery(models.Model):
    """Well-formed deliveries of a kind the hub does not use, per connection and kind: acknowledged so the
    provider does not retry for ever, counted so an operator sees them, not stored."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="ignored")
    kind = models.CharField(max_length=128)
    count = models.BigIntegerField(default=0)
    first_at = models.DateTimeField(auto_now_add=True)
    last_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "connections_ignored_delivery"
        constraints = [models.UniqueConstraint(fields=["connection", "kind"], name="ignored_delivery_once")]
        verbose_name_plural = "ignored deliveries"

    def __str__(self) -> str:
        return f"{self.kind}: {self.count}"
