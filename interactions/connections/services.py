"""Connection services and selectors: create, find the live one, check a bearer secret, revoke, count."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets as random
from collections import Counter

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from hub.errors import ApplicationError, NotFound
from hub.storable import text_problem
from interactions.connections import sealing
from interactions.connections.models import Connection, IgnoredDelivery
from interactions.connections.providers import PROVIDERS
from interactions.privacy.names import CARD_IN_NAME
from interactions.privacy.redaction import holds_card, redact_text

KIND_MAX = 128


class ConnectionInvalid(ApplicationError):
    """A connection that cannot be created as asked: an unknown provider, a bad or taken name, no secret."""


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


BEARER_SECRET_MIN = 24


def _digest(secret: str, salt: str) -> str:
    # A salted SHA-256: the secret is checked on every delivery, so a slow password hash would cost each
    # request; the README asks for a long random secret, which leaves nothing to brute-force.
    return f"sha256${salt}${hashlib.sha256((salt + secret).encode('utf-8')).hexdigest()}"


def connection_create(*, provider: str, name: str, secrets: dict[str, str | None]) -> Connection:
    """Create a connection. `secrets` holds what the provider needs (`auth_token`; `app_secret` and
    `verify_token`; `secret`); secrets of other providers must not be given."""
    if provider not in PROVIDERS:
        raise ConnectionInvalid(f"unknown provider {provider!r}; use one of {', '.join(PROVIDERS)}")
    spec = PROVIDERS[provider]
    if holds_card(name):  # before the slug check, whose sentence repeats the name
        raise ConnectionInvalid(f"the name {CARD_IN_NAME}")
    try:
        validate_slug(name)
    except ValidationError as exc:
        raise ConnectionInvalid(
            f"the name {name!r} must be letters, digits, hyphens or underscores (it goes in URLs)"
        ) from exc
    if len(name) > 64:
        raise ConnectionInvalid("the name must be at most 64 characters")
    wanted = [*spec.sealed, *([spec.hashed] if spec.hashed else [])]
    given = {k: v for k, v in secrets.items() if v is not None}
    missing = [k for k in wanted if not given.get(k)]
    if missing:
        flags = ", ".join("--" + k.replace("_", "-") for k in missing)
        raise ConnectionInvalid(f"{_article(provider)} {provider} connection needs {flags}")
    extra = [k for k in given if k not in wanted]
    if extra:
        flags = ", ".join("--" + k.replace("_", "-") for k in extra)
        raise ConnectionInvalid(f"a {provider} connection takes no {flags}")
    for key, value in given.items():
        problem = text_problem(value) or _secret_problem(key, value)
        if problem is not None:  # the provider would never send it back, and it cannot be hashed as text
            raise ConnectionInvalid(f"--{key.replace('_', '-')} {problem}")
    if spec.hashed and len(given[spec.hashed]) < BEARER_SECRET_MIN:
        # The provider presents it as is and only a fast hash is kept: a short one can be guessed.
        raise ConnectionInvalid(
            f"--{spec.hashed.replace('_', '-')} must be at least {BEARER_SECRET_MIN} characters: "
            "a long random secret, such as the output of `openssl rand -hex 24`"
        )
    digest = _digest(given[spec.hashed], random.token_hex(16)) if spec.hashed else ""
    sealed = sealing.seal({k: given[k] for k in spec.sealed}) if spec.sealed else ""
    try:
        with transaction.atomic():
            return Connection.objects.create(
                name=name, provider=provider, sealed_secrets=sealed, secret_digest=digest
            )
    except IntegrityError as exc:
        raise ConnectionInvalid(f"a connection named {name!r} exists already") from exc


# Secrets that sign requests or travel as a bearer token: the providers' are hex or base64, and a space in
# one cannot survive `Authorization: Bearer <secret>`. A verify token is the operator's own word for Meta's
# handshake, so only space around it (a paste of the line around it) is refused.
_WORD_SECRETS = ("auth_token", "app_secret", "secret")


def _secret_problem(key: str, value: str) -> str | None:
    """Why a secret would make every delivery fail its check, or None."""
    if not value.strip():
        return "is blank"
    if value != value.strip():
        return "begins or ends with a space or line break (copied with the text around it?)"
    if key in _WORD_SECRETS and any(c.isspace() or not c.isprintable() for c in value):
        return "holds a space, tab or control character; the provider's secret has none"
    return None


def connection_get_live(provider: str, name: str) -> Connection:
    """The connection a hook URL names; NotFound for an unknown or revoked one (the same answer, so a
    revoked name cannot be told from one that never was)."""
    connection = Connection.objects.filter(provider=provider, name=name, revoked_at__isnull=True).first()
    if connection is None:
        raise NotFound(f"no {provider} connection {name!r}")
    return connection


def connection_secret_matches(connection: Connection, given: str | None) -> bool:
    """Is `given` the connection's bearer secret? Compared in constant time on the salted digests."""
    if not given or not connection.secret_digest.startswith("sha256$"):
        return False
    _, salt, _ = connection.secret_digest.split("$", 2)
    return hmac.compare_digest(_digest(given, salt), connection.secret_digest)


def connection_revoke(connection: Connection) -> bool:
    """Revoke for good; True if this call revoked it. From then on its hooks answer 404 and write nothing."""
    return bool(
        Connection.objects.filter(pk=connection.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    )


# What a kind may hold as kept: a kind names a part of a delivery, partly in the provider's (so a sender's)
# words (`whatsapp.field.<field>`); any other character becomes "-".
_KIND_UNSAFE = re.compile(r"[^A-Za-z0-9_.:/+@*-]")


def ignored_kind(kind: str) -> str:
    """A kind as it is kept and shown in the admin: card numbers masked, NUL, lone surrogates, spaces and
    control characters replaced by "-" (masked again after, as they may have separated a number's groups),
    at most KIND_MAX characters."""
    kept = redact_text(_KIND_UNSAFE.sub("-", redact_text(kind)))[:KIND_MAX]
    return "-" if holds_card(kept) else kept


def deliveries_ignored(connection: Connection, kinds: list[str]) -> None:
    """Count well-formed deliveries (or parts of one) of kinds the hub does not use."""
    for kind, count in Counter(ignored_kind(k) for k in kinds).items():
        updated = IgnoredDelivery.objects.filter(connection=connection, kind=kind).update(
            count=F("count") + count, last_at=timezone.now()
        )
        if updated:
            continue
        try:
            with transaction.atomic():
                IgnoredDelivery.objects.create(connection=connection, kind=kind, count=count)
        except IntegrityError:  # created meanwhile by a concurrent delivery
            IgnoredDelivery.objects.filter(connection=connection, kind=kind).update(
                count=F("count") + count, last_at=timezone.now()
            )


def ignored_counts(connection: Connection) -> dict[str, int]:
    return dict(connection.ignored.order_by("kind").values_list("kind", "count"))
