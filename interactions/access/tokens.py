"""Token services: create, authenticate and revoke API tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Collection

from django.utils import timezone

from interactions.access.models import ApiToken, Role
from interactions.privacy.names import name_problem, skills_normalised, skills_problem

TOKEN_PREFIX = "tl_"  # noqa: S105 (a public marker, not a secret)


def _digest(raw: str) -> str:
    # Tokens carry 256 bits of randomness, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(raw.encode()).hexdigest()


def token_create(
    *, name: str, role: str, source_prefix: str = "", skills: list[str] | None = None
) -> tuple[ApiToken, str]:
    """Create a token; return the row and the raw bearer token, which is not stored anywhere.

    The name and the prefix are trimmed, as the admin's form trims them: a blank name is refused, and a blank
    prefix is none."""
    name, source_prefix = name.strip(), source_prefix.strip()
    if role not in Role.values:
        raise ValueError(f"role must be one of {', '.join(Role.values)}")
    if not name:
        raise ValueError("a token needs a name: who or what uses it")
    if role == Role.INTEGRATION and not source_prefix:
        raise ValueError("an integration token needs --source, the prefix of the sources it may post for")
    token_fields_check(name=name, source_prefix=source_prefix, skills=skills or [])
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        name=name,
        role=role,
        source_prefix=source_prefix,
        skills=skills_normalised(skills),
        digest=_digest(raw),
        hint=raw[:10],
    )
    return token, raw


def token_field_problem(field: str, value: str) -> str | None:
    """Why a token's `name` or `source_prefix` cannot be kept (see privacy.names), or None."""
    return name_problem(value, max_length=ApiToken._meta.get_field(field).max_length)


def token_fields_check(*, name: str, source_prefix: str, skills: list[str]) -> None:
    """ValueError naming the first field an operator gave that cannot be kept (see privacy.names)."""
    for label, value, field in (
        ("the name", name, "name"),
        ("the source prefix", source_prefix, "source_prefix"),
    ):
        problem = token_field_problem(field, value)
        if problem is not None:
            raise ValueError(f"{label} {problem}")
    problem = skills_problem(skills)
    if problem is not None:
        raise ValueError(problem)


def token_authenticate(raw: str) -> ApiToken | None:
    """The live token behind `raw`, or None."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    # Raw SQL, on every authenticated request: the ORM's building and compiling of this query cost more CPU
    # than running it (0.77 against 0.30 ms, bench.profile single).
    found = ApiToken.objects.raw(
        f"SELECT * FROM {ApiToken._meta.db_table} WHERE digest = %s AND revoked_at IS NULL",
        [_digest(raw)],
    )
    return next(iter(found), None)


def token_get(token_id: str | uuid.UUID) -> ApiToken | None:
    """The token with this id, revoked or not (None for an unknown id)."""
    return ApiToken.objects.filter(pk=token_id).first()


def token_revoke(token: ApiToken) -> bool:
    """Revoke `token` for good; True if this call revoked it, False if it already was.

    From then on it authenticates nowhere: every REST request checks, and every process closes its sockets
    authenticated by it with 4401 (channels_app.revocation asks this table, whichever process revoked).
    """
    revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    return bool(revoked)


# SQLite refuses statements with too many parameters; ask in chunks well below its limit.
_CHUNK = 500


def tokens_revoked(token_ids: Collection[str]) -> set[str]:
    """Which of these token ids no longer authenticate: revoked, or deleted."""
    return set(token_ids) - set(live_token_roles(token_ids))


def live_token_roles(token_ids: Collection[str]) -> dict[str, str]:
    """The role each of these tokens has now, for those that still authenticate (not revoked, not deleted):
    what a socket opened with one of them checks its rights against."""
    ids = sorted(set(token_ids))
    live: dict[str, str] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = ApiToken.objects.filter(pk__in=chunk, revoked_at__isnull=True).values_list("pk", "role")
        live.update((str(pk), role) for pk, role in rows)
    return live
