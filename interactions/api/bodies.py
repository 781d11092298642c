"""Bodies sent without a Content-Length (`Transfer-Encoding: chunked`): read whole, or refused, never lost.

Django's form parsing and DRF's parsers read as many bytes as Content-Length says, and take none when it is
missing: a chunked note was refused as empty, a chunked reason was dropped from an event that was written
anyway. Under ASGI (uvicorn, as `make run` and production run the hub) the server has received the whole
body before the request is built, so its size is known and is set as the Content-Length; the usual limits
then apply (413 past THREADLINE_MAX_BODY_BYTES). A WSGI server's chunked body Django cannot read at all:
that request answers 411 and asks for a Content-Length.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse

from interactions.api.problems import PROBLEM_CONTENT_TYPE, problem


class ChunkedBodies:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.META.get("CONTENT_LENGTH"):
            return self.get_response(request)
        if isinstance(request, ASGIRequest):
            # Whatever the headers say (`Chunked` in any case, or an HTTP/2 server that sends none): the
            # server's whole body is spooled, measured here, not read.
            stream = request._stream
            size = stream.seek(0, io.SEEK_END)
            stream.seek(0)
            if size:
                request.META["CONTENT_LENGTH"] = str(size)
        elif "chunked" in request.headers.get("Transfer-Encoding", "").lower():
            body = problem(411, "length-required", "send the body with a Content-Length header")
            return JsonResponse(body, status=411, content_type=PROBLEM_CONTENT_TYPE)
        return self.get_response(request)
