"""A body sent chunked (no Content-Length) to the hub's ASGI application, as uvicorn hands it over: every
command reads it whole, as it reads a body with a Content-Length; none is taken as empty."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import HttpCommunicator

from config.asgi import application
from hub.models import StoredEvent
from interactions.models import Role
from tests.factories import ApiTokenFactory
from tests.interactions.helpers import post

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def chunked_post(path: str, body: dict, token, encoding: bytes = b"chunked") -> dict:
    headers = [
        (b"host", b"testserver"),
        (b"authorization", f"Bearer {token.raw}".encode()),
        (b"content-type", b"application/json"),
        (b"transfer-encoding", encoding),  # and no content-length
    ]
    response = await HttpCommunicator(
        application, "POST", path, json.dumps(body).encode(), headers
    ).get_response(timeout=10)
    return {"status": response["status"], "body": json.loads(response["body"] or b"null")}


@database_sync_to_async
def a_thread_and_an_agent():
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiTokenFactory(role=Role.INTEGRATION).raw}")
    return post(api)["thread_id"], ApiTokenFactory(role=Role.AGENT)


@database_sync_to_async
def last_event_of(thread_id: str) -> StoredEvent:
    return StoredEvent.objects.filter(stream=f"thread-{thread_id}").order_by("position").last()


async def test_a_chunked_note_and_reason_are_read_whole():
    thread_id, agent = await a_thread_and_an_agent()

    note = await chunked_post(f"/api/v1/threads/{thread_id}/notes", {"text": "chunked note"}, agent)
    noted = await last_event_of(thread_id)
    resolved = await chunked_post(  # the header's case is the sender's (RFC 9112: case-insensitive)
        f"/api/v1/threads/{thread_id}/resolve", {"reason": "chunked reason"}, agent, encoding=b"Chunked"
    )
    resolution = await last_event_of(thread_id)

    assert note["status"] == 201, note
    assert noted.type == "note.added" and noted.data["text"] == "chunked note"
    assert resolved["status"] == 201, resolved
    assert resolution.type == "thread.resolved" and resolution.data["reason"] == "chunked reason"
