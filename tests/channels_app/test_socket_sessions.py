"""A person signed in to the desk opens the socket with their session cookie, from the hub's own origin only,
and acts there as their principal (presence, agent:me), under the same rules as a token of their role."""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing.websocket import WebsocketCommunicator
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from channels_app.revocation import token_watch
from config.asgi import application
from interactions.access.tokens import token_revoke
from interactions.agents.models import AgentPresence
from interactions.people.models import Person
from interactions.people.services import person_create
from tests.channels_app.test_consumer import TIMEOUT, closed_with, frame, subscribe

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "correct horse battery staple"
HOST = "127.0.0.1:8000"


@database_sync_to_async
def sign_in(name: str, role: str = "agent", *, client: Client | None = None) -> tuple[str, Person]:
    person = person_create(username=name, role=role, password=PASSWORD)
    client = client or Client()
    signed = client.post("/accounts/login/", {"username": name, "password": PASSWORD})
    assert signed.status_code == 302, signed
    return client.cookies[settings.SESSION_COOKIE_NAME].value, person


def socket(session: str | None, origin: str | None) -> WebsocketCommunicator:
    headers = [(b"host", HOST.encode())]
    if session is not None:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session}".encode()))
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return WebsocketCommunicator(application, "/ws/v1/agent", headers=headers)


async def answering(session: str) -> WebsocketCommunicator:
    """A socket opened with this session, which has answered a ping."""
    ws = socket(session, f"http://{HOST}")
    await ws.connect(timeout=TIMEOUT)
    await ws.send_json_to({"op": "ping"})
    assert await frame(ws) == {"op": "pong"}
    return ws


@database_sync_to_async
def status_of(person: Person) -> str | None:
    row = AgentPresence.objects.filter(agent_id=str(person.principal_id)).first()
    return row.status if row else None


@pytest.mark.asyncio
async def test_a_signed_in_agent_subscribes_and_sets_their_status_as_their_principal():
    session, person = await sign_in("ann")
    ws = socket(session, f"http://{HOST}")
    connected, _ = await ws.connect(timeout=TIMEOUT)
    assert connected

    await subscribe(ws, ["agent:me"])
    await ws.send_json_to({"op": "status", "value": "available"})
    changed = await frame(ws)
    assert changed["topic"] == f"agent:{person.principal_id}"
    assert changed["event"]["type"] == "agent.status_changed"
    assert await status_of(person) == "available"
    await ws.disconnect()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "origin",
    [
        None,
        "http://evil.example",
        f"https://{HOST}.evil.example",
        "null",
        f"ws://{HOST}",
        "http://127.0.0.1:9000",
    ],
)
async def test_a_session_from_another_origin_or_none_closes_with_4401(origin):
    session, _ = await sign_in("ann")
    ws = socket(session, origin)
    await ws.connect(timeout=TIMEOUT)

    assert await closed_with(ws) == 4401


@pytest.mark.asyncio
async def test_no_session_a_forged_one_or_a_revoked_principal_closes_with_4401():
    for session in (None, "not-a-session"):
        ws = socket(session, f"http://{HOST}")
        await ws.connect(timeout=TIMEOUT)
        assert await closed_with(ws) == 4401

    session, person = await sign_in("ann")
    await database_sync_to_async(token_revoke)(person.principal)
    ws = socket(session, f"http://{HOST}")
    await ws.connect(timeout=TIMEOUT)
    assert await closed_with(ws) == 4401


@pytest.mark.asyncio
async def test_a_signed_in_agent_may_not_subscribe_to_everything_but_a_supervisor_may():
    session, _ = await sign_in("ann")
    ws = socket(session, f"http://{HOST}")
    await ws.connect(timeout=TIMEOUT)
    await ws.send_json_to({"op": "subscribe", "topics": ["all"], "after": None})
    refused = await frame(ws)
    assert refused["code"] == "forbidden"
    assert refused["detail"] == "only supervisors and admins may subscribe to all"  # admins may too
    await ws.disconnect()

    session, _ = await sign_in("sam", "supervisor")
    ws = socket(session, f"http://{HOST}")
    await ws.connect(timeout=TIMEOUT)
    await subscribe(ws, ["all"])
    await ws.disconnect()


@pytest.mark.asyncio
async def test_after_signing_out_the_socket_closes_with_4401_at_its_next_frame():
    client = Client()
    session, _ = await sign_in("ann", client=client)
    ws = await answering(session)

    await database_sync_to_async(client.post)("/accounts/logout/")
    await ws.send_json_to({"op": "ping"})

    assert await closed_with(ws) == 4401


@pytest.mark.asyncio
async def test_after_signing_out_in_another_tab_an_idle_socket_closes_without_waiting_for_a_frame(settings):
    """The desk's other tabs send no frame while idle: the process's watch closes their sockets once the
    session is gone, instead of streaming the customer's events to a signed-out page."""
    settings.THREADLINE_TOKEN_CHECK_SECONDS = 0.05
    client = Client()
    session, _ = await sign_in("ann", client=client)
    other_client = Client()
    other_session, _ = await sign_in("bob", client=other_client)
    idle, other = socket(session, f"http://{HOST}"), socket(other_session, f"http://{HOST}")
    for ws in (idle, other):
        await ws.connect(timeout=TIMEOUT)
        await subscribe(ws, ["agent:me"])

    await database_sync_to_async(client.post)("/accounts/logout/")

    assert await closed_with(idle) == 4401  # no frame sent
    await other.send_json_to({"op": "ping"})
    assert await frame(other) == {"op": "pong"}  # another person's session is still theirs
    await other.disconnect()


@database_sync_to_async
def deactivate(person: Person) -> None:
    user = person.user
    user.is_active = False
    user.save()  # what the admin's form does


@pytest.mark.asyncio
async def test_a_deactivated_persons_socket_closes_with_4401_without_waiting_for_a_frame(settings):
    settings.THREADLINE_TOKEN_CHECK_SECONDS = 0.05
    session, person = await sign_in("ann")
    ws = socket(session, f"http://{HOST}")
    await ws.connect(timeout=TIMEOUT)
    await subscribe(ws, ["agent:me"])

    await deactivate(person)

    assert await closed_with(ws) == 4401  # by the process's watch, with no frame sent


@pytest.mark.asyncio
async def test_a_deactivated_persons_next_frame_is_refused_and_closes_the_socket(settings):
    settings.THREADLINE_TOKEN_CHECK_SECONDS = 3600  # only the check before each frame can close it here
    session, person = await sign_in("ann")
    ws = socket(session, f"http://{HOST}")
    await ws.connect(timeout=TIMEOUT)
    await subscribe(ws, ["agent:me"])

    await deactivate(person)
    await ws.send_json_to({"op": "subscribe", "topics": ["agent:me"], "after": 0})

    assert await closed_with(ws) == 4401


@pytest.mark.asyncio
async def test_an_expired_sessions_next_frame_is_refused_as_the_watch_would(settings):
    # The check before a frame asked only whether the session's row existed: an expired one passed it,
    # while the watch of every socket closed it.
    settings.THREADLINE_TOKEN_CHECK_SECONDS = 3600  # only the check before each frame can close it here
    session, _ = await sign_in("ann")
    ws = await answering(session)

    await database_sync_to_async(expire)(session)
    await ws.send_json_to({"op": "ping"})

    assert await closed_with(ws) == 4401


def expire(session_key: str) -> None:
    Session.objects.filter(session_key=session_key).update(expire_date=timezone.now() - timedelta(seconds=1))


@database_sync_to_async
def change_password(person: Person, password: str) -> None:
    """As the admin's password form, `changepassword` or another browser's change does: a new hash on the
    user, and nothing done to the sessions this person already has."""
    user = person.user
    user.set_password(password)
    user.save()


@pytest.mark.asyncio
async def test_a_password_changed_elsewhere_closes_the_persons_sockets_without_waiting_for_a_frame(settings):
    """Django refuses a session signed in before the password changed (its auth hash no longer matches) at its
    next request; a socket opened with it was left open, streaming to whoever held the old session."""
    settings.THREADLINE_TOKEN_CHECK_SECONDS = 0.05
    session, person = await sign_in("ann")
    other_session, _ = await sign_in("bob")
    idle, other = socket(session, f"http://{HOST}"), socket(other_session, f"http://{HOST}")
    for ws in (idle, other):
        await ws.connect(timeout=TIMEOUT)
        await subscribe(ws, ["agent:me"])

    await change_password(person, "a new and longer passphrase")

    assert await closed_with(idle) == 4401  # no frame sent
    await other.send_json_to({"op": "ping"})
    assert await frame(other) == {"op": "pong"}  # bob's password did not change
    await other.disconnect()


@pytest.mark.asyncio
async def test_after_a_password_change_the_sockets_next_frame_is_refused(settings):
    settings.THREADLINE_TOKEN_CHECK_SECONDS = 3600  # only the check before each frame can close it here
    session, person = await sign_in("ann")
    ws = await answering(session)

    await change_password(person, "a new and longer passphrase")
    await ws.send_json_to({"op": "ping"})

    assert await closed_with(ws) == 4401


@pytest.mark.asyncio
async def test_a_session_signed_with_a_fallback_secret_key_keeps_its_socket(settings):
    """Rotating SECRET_KEY with the old one in SECRET_KEY_FALLBACKS keeps everyone signed in, in Django and
    on the desk's sockets alike."""
    settings.THREADLINE_TOKEN_CHECK_SECONDS = 3600
    session, _ = await sign_in("ann")
    ws = await answering(session)

    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 50
    await token_watch().check()  # what each tick asks
    await ws.send_json_to({"op": "ping"})  # and before each frame

    assert await frame(ws) == {"op": "pong"}
    await ws.disconnect()
