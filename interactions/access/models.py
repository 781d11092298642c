"""API tokens and their roles (the table the access rules read)."""

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
