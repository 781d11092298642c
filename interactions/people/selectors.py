"""Reads of people: the principal (agent identity) a signed-in user acts as."""

from __future__ import annotations

from typing import Any

from interactions.access.models import ApiToken
from interactions.people.models import Person


def person_principal(user: Any) -> ApiToken | None:
    """The live principal of an active, signed-in user; None for anyone else (no person, revoked,
    inactive)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    person = Person.objects.select_related("principal").filter(user_id=user.pk).first()
    if person is None or person.principal.revoked_at is not None:
        return None
    return person.principal
