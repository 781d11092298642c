"""Reads of people: the principal (agent identity) a signed-in user acts as."""

from __future__ import annotations

from collections.abc import Collection
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


def principals_locked_out(principal_ids: Collection[str]) -> set[str]:
    """Which of these principals' people may no longer sign in: their user deactivated, or deleted (with
    its person). Their session sockets close, as a revoked token's do."""
    ids = {str(i) for i in principal_ids}
    active = Person.objects.filter(principal_id__in=ids, user__is_active=True).values_list(
        "principal_id", flat=True
    )
    return ids - {str(pk) for pk in active}
