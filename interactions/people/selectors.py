"""Reads of people: the principal (agent identity) a signed-in user acts as."""

from __future__ import annotations

from collections.abc import Collection
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.crypto import constant_time_compare

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
        "This account has no role on the desk. An administrator creates a desk account (a new user name,"
        " with its role) with manage.py create_user." + staff
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
    """Which of these sessions no longer sign their person in: signed out (Django deletes the session),
    signed in again elsewhere in that browser (the old key is cycled away), expired, or whose user's password
    has changed since they signed in (the session's auth hash no longer matches, so Django refuses the
    session at its next request; a password changed in that same session keeps it, as Django does). Two
    queries with the database sessions Django uses by default; one look-up per key with another engine.
    Nothing is written (Django flushes such a session itself when it next sees it), except that Django's
    file engine replaces an expired session's file with an empty one as it reads it."""
    keys = set(session_keys)
    ended: set[str | None] = {k for k in keys if not k}
    keys -= ended
    if not keys:
        return ended
    sessions = _session_data(keys)
    ended |= keys - set(sessions)
    user_model = get_user_model()
    user_ids = {str(data.get(SESSION_KEY)) for data in sessions.values()}
    users = {str(user.pk): user for user in user_model._default_manager.filter(pk__in=_user_pks(user_ids))}
    for key, data in sessions.items():
        user = users.get(str(data.get(SESSION_KEY)))
        if user is None or not _hash_holds(data.get(HASH_SESSION_KEY), user):
            ended.add(key)
    return ended


def _session_data(keys: set[str]) -> dict[str, dict[str, Any]]:
    """The decoded data of those of these sessions that exist and have not expired."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if settings.SESSION_ENGINE in _DATABASE_SESSIONS:
        rows = Session.objects.filter(session_key__in=keys, expire_date__gt=timezone.now()).values_list(
            "session_key", "session_data"
        )
        return {key: store().decode(data) for key, data in rows}
    loaded = {key: store(session_key=key).load() for key in keys}
    return {key: data for key, data in loaded.items() if data}


def _user_pks(values: set[str]) -> list[Any]:
    """The user ids among these session values (a value that is not one is no user)."""
    pk_field = get_user_model()._meta.pk
    pks = []
    for value in values:
        try:
            pks.append(pk_field.to_python(value))
        except ValidationError:
            continue
    return pks


def _hash_holds(session_hash: Any, user: Any) -> bool:
    """Django's own test of a session against its user (django.contrib.auth.get_user), read only: the hash
    the session was signed in with is the user's current one, or one made with a SECRET_KEY_FALLBACKS key
    (which Django accepts and renews)."""
    if not isinstance(session_hash, str) or not session_hash:
        return False
    if constant_time_compare(session_hash, user.get_session_auth_hash()):
        return True
    return any(constant_time_compare(session_hash, h) for h in user.get_session_auth_fallback_hash())
