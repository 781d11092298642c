"""ASGI middleware in front of Django: a body over its path's limit answers 413 before it is read."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings

from interactions.adapters.email.upload import FORM_OVERHEAD
from interactions.api.problems import PROBLEM_CONTENT_TYPE, problem

EMAIL_HOOKS = "/hooks/email/"


def body_limit(path: str) -> int:
    """The most bytes a request to `path` may send: the inbound e-mail hook takes a message of up to
    THREADLINE_EMAIL_MAX_BYTES (and a form's other fields), every other path at most what Django reads."""
    if path.startswith(EMAIL_HOOKS):
        return settings.THREADLINE_EMAIL_MAX_BYTES + FORM_OVERHEAD
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


class BodyLimit:
    """A body over its path's limit answers 413 before it is read.

    Django's ASGI handler reads the whole body, to a temporary file past 2.5 MB, before any middleware or
    view runs: a request declaring 1 GiB, or sending it chunked, went to disk whole before its 413, and
    anyone could send one (to an unknown hook, with no secret). Here a declared Content-Length over the
    limit is refused at once, and a body without one is counted as it arrives and refused as soon as it
    passes the limit (Django is then told the client left, so it answers nothing more).
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, root = scope.get("path", ""), scope.get("root_path", "")
        limit = body_limit(path[len(root) :] if root and path.startswith(root) else path)  # as Django routes
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(send, limit)
            return
        received = 0

        async def counted() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    await _refuse(send, limit)
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, counted, send)


async def _refuse(send: Any, limit: int) -> None:
    body = json.dumps(
        problem(413, "payload-too-large", f"the body is over the {limit} bytes this path takes")
    ).encode()
    headers = [(b"content-type", PROBLEM_CONTENT_TYPE.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
