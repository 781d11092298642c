"""The inbound e-mail hook: `POST /hooks/email/<connection>/inbound` with a raw message, one event."""

from __future__ import annotations

from urllib.parse import unquote_plus

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from hub.errors import ApplicationError
from interactions.adapters.email.events import email_event
from interactions.adapters.email.message import EmailTooLarge, MalformedEmail
from interactions.adapters.email.upload import UnsupportedEmailType, read_email, request_limit
from interactions.adapters.hooks import (
    BadSignature,
    DeliveryTooLarge,
    MalformedDelivery,
    Translation,
    deliver,
    live_connection,
    method_not_allowed,
    problem_response,
)
from interactions.api.cloudevents_http import UnsupportedMediaType
from interactions.connections.services import connection_secret_matches

READ_SIZE = 64 * 1024  # bytes read from the request at a time


def _given_secret(request: HttpRequest) -> str | None:
    """The connection secret as the caller sent it: `Authorization: Bearer <secret>`, or, for a service that
    is only given a URL, the query parameter `secret` (the logs redact it).

    The query is read strictly, as the websocket's token is: the name spelled out (`%73ecret` is refused),
    once. A credential has one way of being written, the one the log filter is sure to know."""
    scheme, _, value = (request.META.get("HTTP_AUTHORIZATION") or "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    pairs = [item.partition("=") for item in (request.META.get("QUERY_STRING") or "").split("&") if item]
    named = [(name, given) for name, _, given in pairs if unquote_plus(name).lower() == "secret"]
    if len(named) != 1 or named[0][0] != "secret":
        return None
    return unquote_plus(named[0][1]) or None


def _chunks(request: HttpRequest):
    while chunk := request.read(READ_SIZE):
        yield chunk


@csrf_exempt
def inbound(request: HttpRequest, name: str) -> JsonResponse:
    if request.method != "POST":
        return method_not_allowed("POST")
    try:
        connection = live_connection("email", name)
        if not connection_secret_matches(connection, _given_secret(request)):
            raise BadSignature("a missing or wrong secret: send Authorization: Bearer <secret>")
        content_type = request.META.get("CONTENT_TYPE") or ""
        limit = settings.THREADLINE_EMAIL_MAX_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError as exc:
            raise MalformedDelivery("Content-Length is not a number") from exc
        if declared > request_limit(content_type, limit):
            raise DeliveryTooLarge(f"the message is {declared} bytes; the limit is {limit}")
        try:
            parsed = read_email(content_type, _chunks(request), limit=limit)
            event = email_event(parsed, source=connection.source, now=timezone.now())
        except EmailTooLarge as exc:
            raise DeliveryTooLarge(str(exc)) from exc
        except MalformedEmail as exc:
            raise MalformedDelivery(str(exc)) from exc
        except UnsupportedEmailType as exc:
            raise UnsupportedMediaType(str(exc)) from exc
        (result,) = deliver(connection, Translation(events=[event]))
    except ApplicationError as exc:
        return problem_response(exc)
    return JsonResponse(result.as_dict())
