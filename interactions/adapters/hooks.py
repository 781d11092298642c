"""What every adapter's webhook shares: the live connection, the URL a provider signed, constant-time
signature checks, one call of the ingest pipeline per delivery, counting what is ignored, and the answers.

A hook view stays thin: find the connection, read the body, verify, translate, `deliver`, render. Every
error is an ApplicationError that `problem_response` renders: 404 unknown or revoked connection, 403 bad or
missing signature, 400 malformed delivery, 413 too large; nothing is written in any of these cases.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse

from hub.errors import ApplicationError, NotFound, UnstorableEvents
from interactions.api import problems
from interactions.api.problems import PROBLEM_CONTENT_TYPE, error_problem, problem
from interactions.connections.models import Connection
from interactions.connections.sealing import SecretsUnreadable
from interactions.connections.services import connection_get_live, deliveries_ignored
from interactions.errors import InvalidEvents
from interactions.ingestion.pipeline import IngestedEvent, connection_events_ingest

FORM_TYPE = "application/x-www-form-urlencoded"
logger = logging.getLogger(__name__)


class BadSignature(ApplicationError):
    """The delivery's signature is missing or does not verify with the connection's secret."""


class MalformedDelivery(ApplicationError):
    """A signed delivery the adapter cannot read; `errors` names each field (`where`) and what is wrong."""

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail, extra={"errors": errors} if errors else None)


class DeliveryTooLarge(ApplicationError):
    """The body is over the size this hook accepts."""


@dataclass
class Translation:
    """A delivery as the hub takes it: CloudEvents (dicts) to append together, and the kinds of the parts
    it does not use (counted per connection, never stored)."""

    events: list[dict[str, Any]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def live_connection(provider: str, name: str) -> Connection:
    """The connection a hook URL names; NotFound (404) if unknown or revoked."""
    return connection_get_live(provider, name)


def public_url(request: HttpRequest) -> str:
    """The URL the provider called, as it signed it: THREADLINE_PUBLIC_URL plus the path and query when the
    hub is behind a proxy, else the URL of the request as received."""
    base = settings.THREADLINE_PUBLIC_URL.rstrip("/")
    if base:
        return base + request.get_full_path()
    return request.build_absolute_uri()


def form_params(request: HttpRequest) -> list[tuple[str, list[str]]]:
    """The form fields of a POST, each with all its values, in the order sent; raises MalformedDelivery
    when there are too many, DeliveryTooLarge when the body is over Django's limit."""
    try:
        return list(request.POST.lists())
    except TooManyFieldsSent as exc:
        raise MalformedDelivery("too many form fields") from exc
    except RequestDataTooBig as exc:
        raise DeliveryTooLarge("the body is too large for this hook") from exc


def is_form(request: HttpRequest) -> bool:
    return request.content_type == FORM_TYPE


def hmac_base64(key: str, message: str, digest: Callable[..., Any] = hashlib.sha1) -> str:
    return base64.b64encode(hmac.new(key.encode("utf-8"), message.encode("utf-8"), digest).digest()).decode()


def same(expected: str, given: str | None) -> bool:
    """Compare a computed signature with the one sent, in constant time (its timing reveals nothing)."""
    return given is not None and hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def deliver(connection: Connection, translation: Translation) -> list[IngestedEvent]:
    """One delivery into the hub: its events through the ingest pipeline (validation, card masking,
    placement, the log), all or none, then its unused parts counted. Events the pipeline refuses make the
    delivery malformed (400), with the pipeline's errors."""
    results: list[IngestedEvent] = []
    if translation.events:
        try:
            results = connection_events_ingest(
                translation.events, source=connection.source, connection=connection.name
            )
        except (InvalidEvents, UnstorableEvents) as exc:
            raise MalformedDelivery("the delivery holds what the hub cannot accept", exc.errors) from exc
    if translation.ignored:
        try:
            deliveries_ignored(connection, translation.ignored)
        except DatabaseError:
            # The events are in the log already: a 500 now would say they were not, and the provider would
            # deliver again for ever. The count is the one thing lost, and the log says so.
            logger.exception("connection %s: a delivery's ignored parts were not counted", connection.name)
    return results


_STATUSES: list[tuple[type[ApplicationError], int, str]] = [
    (NotFound, 404, "not-found"),
    (BadSignature, 403, "bad-signature"),
    (MalformedDelivery, 400, "malformed-delivery"),
    (DeliveryTooLarge, 413, "payload-too-large"),
    # The hub's own fault (the secrets key changed): logged, and answered as a server error.
    (SecretsUnreadable, 500, "secrets-unreadable"),
]


def problem_response(exc: ApplicationError) -> JsonResponse:
    """The problem+json answer of a hook's error."""
    if isinstance(exc, SecretsUnreadable):
        logger.error("a connection's secrets cannot be read: %s", exc.detail)
    for cls, status, code in _STATUSES:
        if isinstance(exc, cls):
            body = problem(status, code, exc.detail, **exc.extra)
            break
    else:
        body = error_problem(exc)
    return JsonResponse(body, status=body["status"], content_type=PROBLEM_CONTENT_TYPE)


def method_not_allowed(allowed: str) -> JsonResponse:
    return problems.method_not_allowed(allowed, "this hook")
