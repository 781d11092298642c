"""The Meta hook: `GET` (the verification handshake) and `POST` (signed deliveries) on
`/hooks/meta/<connection>/webhook`."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from hub import storable
from hub.errors import ApplicationError
from interactions.adapters.hooks import (
    BadSignature,
    DeliveryTooLarge,
    MalformedDelivery,
    deliver,
    live_connection,
    method_not_allowed,
    problem_response,
)
from interactions.adapters.meta.signature import challenge, signature_valid
from interactions.adapters.meta.translate import UnreadablePayload, translate
from interactions.api.cloudevents_http import bounded_body


def _body(request: HttpRequest) -> bytes:
    return bounded_body(request, too_large=DeliveryTooLarge, malformed=MalformedDelivery)


def _handshake(request: HttpRequest, name: str) -> HttpResponse:
    connection = live_connection("meta", name)
    answer = challenge(request.GET.dict(), connection.secret("verify_token"))
    if answer is None:
        raise BadSignature("hub.mode must be subscribe and hub.verify_token the connection's verify token")
    if not answer:
        raise MalformedDelivery("hub.challenge is missing: the handshake echoes the value Meta sends in it")
    return HttpResponse(answer, content_type="text/plain")


def _delivery(request: HttpRequest, name: str) -> JsonResponse:
    connection = live_connection("meta", name)
    body = _body(request)
    if not signature_valid(
        body, request.META.get("HTTP_X_HUB_SIGNATURE_256"), connection.secret("app_secret")
    ):
        raise BadSignature("a missing or wrong X-Hub-Signature-256")
    try:
        payload = storable.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise MalformedDelivery("the body is not UTF-8") from exc
    except storable.Unreadable as exc:  # nested too deep, or a key named twice
        raise MalformedDelivery(
            "the body is JSON the hub does not read", [{"field": _at(exc.path), "message": str(exc)}]
        ) from exc
    except ValueError as exc:  # not JSON, NaN
        raise MalformedDelivery(f"the body is not JSON the hub can read: {exc}") from exc
    try:
        translation = translate(payload, source=connection.source)
    except UnreadablePayload as exc:
        raise MalformedDelivery(
            "the delivery is not shaped as Meta documents it", [{"field": exc.where, "message": exc.message}]
        ) from exc
    results = deliver(connection, translation)
    return JsonResponse({"results": [r.as_dict() for r in results], "ignored": len(translation.ignored)})


@csrf_exempt
def webhook(request: HttpRequest, name: str) -> HttpResponse:
    try:
        if request.method == "GET":
            return _handshake(request, name)
        if request.method == "POST":
            return _delivery(request, name)
    except ApplicationError as exc:
        return problem_response(exc)
    return method_not_allowed("GET, POST")


def _at(path: tuple[str | int, ...]) -> str:
    """A path in the body as the JSON path the delivery's other problems give (`$.entry[0].changes`)."""
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{storable.field_name((p,))}" for p in path)
