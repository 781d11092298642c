"""Twilio's hooks: each finds the connection, verifies `X-Twilio-Signature`, translates, delivers, and
answers empty TwiML (or a problem: 404 unknown or revoked connection, 403 signature, 400 malformed)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from hub.errors import ApplicationError
from interactions.adapters import hooks
from interactions.adapters.twilio import signature, translate
from interactions.placement.selectors import ref_identifier

TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'

Translator = Callable[[list[tuple[str, list[str]]], str], hooks.Translation]


def _hook(translator: Translator) -> Callable[[HttpRequest, str], HttpResponse]:
    @csrf_exempt
    def view(request: HttpRequest, name: str) -> HttpResponse:
        if request.method != "POST":
            return hooks.method_not_allowed("POST")
        try:
            connection = hooks.live_connection("twilio", name)
            # Before the body is read: Django parses a multipart body's files to disk, however large,
            # and the signature is over form fields, so anything else is refused unread.
            if not hooks.is_form(request):
                raise hooks.MalformedDelivery(f"Twilio posts a form ({hooks.FORM_TYPE})")
            params = hooks.form_params(request)
            if not signature.valid(
                hooks.public_url(request),
                params,
                request.headers.get(signature.HEADER),
                connection.secret("auth_token"),
            ):
                raise hooks.BadSignature(f"the {signature.HEADER} header is missing or does not verify")
            hooks.deliver(connection, translator(params, connection.source))
        except ApplicationError as exc:
            return hooks.problem_response(exc)
        return HttpResponse(TWIML_EMPTY, content_type="text/xml")

    return view


VIEWS = {
    "messaging": _hook(lambda p, source: translate.message_received(p, source=source)),
    "message-status": _hook(lambda p, source: translate.message_status(p, source=source)),
    "voice": _hook(lambda p, source: translate.call_status(p, source=source)),
    "recording": _hook(lambda p, source: translate.recording(p, source=source, find_call=ref_identifier)),
    "transcription": _hook(
        lambda p, source: translate.transcription(p, source=source, find_call=ref_identifier)
    ),
}
