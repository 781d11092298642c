"""Reads of people: the principal (agent identity) a signed-in user acts as."""

from __future__ import annotations

from collections.abc import Collection
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.sessions.models import Session
from django.utils import timezone

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


def desk_refusal(user: Any) -> str | None:
    """Why this signed-in user may not use the desk, in words for them; None when they may."""
    if person_principal(user) is not None:
        return None
    person = Person.objects.select_related("principal").filter(user_id=user.pk).first()
    if person is not None and person.principal.revoked_at is not None:
        return (
            "This account's access to the desk has been revoked. Ask an administrator if that is a mistake."
        )
    staff = " It can use the admin." if getattr(user, "is_staff", False) else ""
    return (
        "This account has no role on the desk. An administrator gives it one with manage.py create_user."
        + staff
    )


def principals_locked_out(principal_ids: Collection[str]) -> set[str]:
    """Which of these principals' people may no longer sign in: their user deactivated, or deleted (with
    its person). Their session sockets close, as a revoked token's do."""
    ids = {str(i) for i in principal_ids}
    active = Person.objects.filter(principal_id__in=ids, user__is_active=True).values_list(
        "principal_id", flat=True
    )
    return ids - {str(pk) for pk in active}


_DATABASE_SESSIONS = ("django.contrib.sessions.backends.db", "django.contrib.sessions.backends.cached_db")


def session_engine_problem() -> str | None:
    """Why the configured session engine cannot serve the desk, or None. Signing out ends the person's
    sockets in every tab (sessions_ended), which needs sessions the server can look up and end: signed-cookie
    sessions live only in the browser, so no session would be found and every desk socket would be closed."""
    if settings.SESSION_ENGINE == "django.contrib.sessions.backends.signed_cookies":
        return (
            "SESSION_ENGINE: signed-cookie sessions cannot be looked up or ended on the server, and the desk"
            " closes the sockets of a session that ended; use the db, cached_db, cache or file engine"
        )
    return None


def sessions_ended(session_keys: Collection[str | None]) -> set[str | None]:
    """Which of these sessions no longer exist or have expired: signed out (Django deletes the session),
    or signed in again elsewhere in that browser (the old key is cycled away). One query with the database
    sessions Django uses by default; one look-up per key with another engine."""
    keys = set(session_keys)
    ended: set[str | None] = {k for k in keys if not k}
    keys -= ended
    if not keys:
        return ended
    if settings.SESSION_ENGINE in _DATABASE_SESSIONS:
        live = Session.objects.filter(session_key__in=keys, expire_date__gt=timezone.now()).values_list(
            "session_key", flat=True
        )
        return ended | (keys - set(live))
    store = import_module(settings.SESSION_ENGINE).SessionStore
    return ended | {k for k in keys if not store().exists(k)}
