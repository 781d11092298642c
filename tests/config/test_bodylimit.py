"""A body over its path's limit answers 413 before the server has read it (config/bodylimit.py).

Django's ASGI handler reads a whole body, to disk past 2.5 MB, before any view can refuse it: these tests
drive the hub's real ASGI application and send it no more of the body than it asks for. A request that
were read whole would never be answered here, since its body never comes.
"""

from __future__ import annotations

import json

import pytest
from asgiref.testing import ApplicationCommunicator
from django.conf import settings

from config.asgi import application
from config.bodylimit import body_limit
from hub.models import StoredEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
GIB = 1024**3


def scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


async def answer(app: ApplicationCommunicator) -> tuple[int, dict]:
    start = await app.receive_output(timeout=10)
    body = await app.receive_output(timeout=10)
    assert start["type"] == "http.response.start"
    return start["status"], json.loads(body["body"])


@pytest.mark.parametrize(
    "path",
    ["/api/v1/events", "/hooks/email/no-such-mailbox/inbound", "/hooks/twilio/x/messaging", "/no/such/path"],
)
async def test_a_declared_length_over_the_limit_is_refused_before_a_byte_of_the_body_is_read(path):
    app = ApplicationCommunicator(application, scope(path, [(b"content-length", str(GIB).encode())]))
    # No body is ever sent: an application that read it first would wait for ever.

    status, problem = await answer(app)

    assert status == 413 and problem["type"].endswith("/payload-too-large")
    assert f"over the {body_limit(path)} bytes" in problem["detail"]


async def test_a_chunked_body_is_refused_once_it_passes_the_limit_and_the_rest_is_never_read():
    app = ApplicationCommunicator(
        application, scope("/hooks/email/no-such-mailbox/inbound", [(b"transfer-encoding", b"chunked")])
    )
    chunk = b"x" * (1024 * 1024)
    sent = 0
    while sent <= body_limit("/hooks/email/"):
        await app.send_input({"type": "http.request", "body": chunk, "more_body": True})
        sent += len(chunk)

    status, problem = await answer(app)

    assert status == 413, problem
    assert await StoredEvent.objects.acount() == 0


async def test_under_a_root_path_the_email_hook_keeps_its_larger_limit():
    mounted = {**scope("/hub/hooks/email/m/inbound", [(b"content-length", b"2000000")]), "root_path": "/hub"}
    app = ApplicationCommunicator(application, mounted)
    await app.send_input({"type": "http.request", "body": b"x" * 2_000_000, "more_body": False})

    status, problem = await answer(app)

    assert status == 404, problem  # read, and refused for the unknown mailbox: not as too large


async def test_a_body_within_the_limit_goes_on_to_django():
    app = ApplicationCommunicator(
        application,
        scope("/api/v1/events", [(b"content-length", b"2"), (b"content-type", b"application/json")]),
    )
    await app.send_input({"type": "http.request", "body": b"{}", "more_body": False})

    status, problem = await answer(app)

    assert status == 401, problem  # read and refused by the API for want of a token: not by the size
    assert body_limit("/api/v1/events") == settings.DATA_UPLOAD_MAX_MEMORY_SIZE
