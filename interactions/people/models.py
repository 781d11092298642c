"""A person: a Django user who signs in, and the agent identity (an ApiToken row) they act as."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from interactions.access.models import ApiToken


class Person(models.Model):
    """Links a Django user to the principal they act as.

    The principal is an ApiToken row: its id is the person's agent_id (presence, assignment, callback
    offers), its role and skills are theirs, and revoking it locks the person out of the API and closes
    their sockets, exactly as for a token. A person created by `create_user` gets a principal whose bearer
    secret was never shown to anyone; `create_user --token <id>` links an existing agent token instead.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="person")
    principal = models.OneToOneField(ApiToken, on_delete=models.PROTECT, related_name="person")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "people_person"

    def __str__(self) -> str:
        return f"{self.user.get_username()} ({self.principal.role})"
