"""Thread commands become events: resolve, reopen, assign, notes; conflicts and permissions."""

from __future__ import annotations

import pytest

from hub.models import StoredEvent
from interactions.models import Role, Thread
from interactions.threads import services
from tests.conftest import client_for
from tests.factories import ApiTokenFactory
from tests.interactions.helpers import context, post

pytestmark = pytest.mark.django_db


def url(thread_id, command):
    return f"/api/v1/threads/{thread_id}/{command}"


def test_resolve_and_reopen_append_lifecycle_events(api, agent_api):
    thread_id = post(api)["thread_id"]

    resolved = agent_api.post(url(thread_id, "resolve"), {"reason": "refund issued"}, format="json")
    again = agent_api.post(url(thread_id, "resolve"), format="json")
    reopened = agent_api.post(url(thread_id, "reopen"), format="json")

    assert resolved.status_code == 201 and resolved.json()["thread"]["status"] == "resolved"
    assert again.status_code == 409 and again["Content-Type"] == "application/problem+json"
    assert reopened.status_code == 201 and reopened.json()["thread"]["status"] == "open"
    types = list(StoredEvent.objects.filter(stream=f"thread-{thread_id}").values_list("type", flat=True))
    assert types == ["thread.opened", "message.received", "thread.resolved", "thread.reopened"]


def test_a_stale_expected_version_is_a_409_and_writes_nothing(api, agent_api):
    thread_id = post(api)["thread_id"]
    version = Thread.objects.get(pk=thread_id).version
    post(api, data={"channel": "sms", "text": "one more"})
    count = StoredEvent.objects.count()

    response = agent_api.post(url(thread_id, "resolve"), {"expected_version": version}, format="json")

    assert response.status_code == 409
    assert response.json()["actual_version"] == version + 1
    assert StoredEvent.objects.count() == count


def test_the_current_expected_version_is_accepted(api, agent_api):
    thread_id = post(api)["thread_id"]
    version = Thread.objects.get(pk=thread_id).version

    response = agent_api.post(url(thread_id, "resolve"), {"expected_version": version}, format="json")

    assert response.status_code == 201
    assert response.json()["thread"]["version"] == version + 1


def test_an_agent_assigns_a_thread_to_themselves_or_a_supervisor_to_an_agent(
    api, agent_api, agent_token, supervisor_api
):
    thread_id = post(api)["thread_id"]

    mine = agent_api.post(url(thread_id, "assign"), format="json")
    other = ApiTokenFactory(role=Role.AGENT)
    theirs = supervisor_api.post(url(thread_id, "assign"), {"agent_id": str(other.pk)}, format="json")
    missing = supervisor_api.post(url(thread_id, "assign"), format="json")
    unknown = supervisor_api.post(
        url(thread_id, "assign"),
        {"agent_id": str(api_token_id := "00000000-0000-0000-0000-000000000009")},
        format="json",
    )

    assert mine.json()["thread"]["assigned_agent"] == str(agent_token.pk)
    assert theirs.json()["thread"]["assigned_agent"] == str(other.pk)
    assert missing.status_code == 400 and missing.json()["errors"][0]["field"] == "agent_id"
    assert unknown.status_code == 404 and api_token_id in unknown.json()["detail"]


def test_an_agent_may_not_assign_a_thread_to_another_agent(api, agent_api):
    thread_id = post(api)["thread_id"]
    other = ApiTokenFactory(role=Role.AGENT)
    count = StoredEvent.objects.count()

    response = agent_api.post(url(thread_id, "assign"), {"agent_id": str(other.pk)}, format="json")

    assert response.status_code == 403
    assert "only to themselves" in response.json()["detail"]
    assert StoredEvent.objects.count() == count
    assert Thread.objects.get(pk=thread_id).assigned_agent == ""


def test_a_note_joins_the_timeline_with_card_data_masked(api, agent_api, agent_token):
    thread_id = post(api, time="2026-11-23T10:00:00Z")["thread_id"]

    response = agent_api.post(
        url(thread_id, "notes"), {"text": "Customer read 4111 1111 1111 1111 aloud"}, format="json"
    )

    assert response.status_code == 201
    recent = context(api, "tel:+15551234567")["open_threads"][0]["recent"]
    assert recent[-1]["type"] == "note.added"
    assert recent[-1]["text"] == "Customer read **** **** **** 1111 aloud"
    assert recent[-1]["agent_id"] == str(agent_token.pk)


@pytest.mark.parametrize(
    ("command", "body"), [("notes", {}), ("notes", {"text": ""}), ("resolve", {"expected_version": -1})]
)
def test_invalid_command_input_is_a_400(api, agent_api, command, body):
    thread_id = post(api)["thread_id"]

    assert agent_api.post(url(thread_id, command), body, format="json").status_code == 400


def test_commands_on_an_unknown_thread_are_a_404(agent_api):
    assert agent_api.post(url("00000000-0000-0000-0000-000000000000", "resolve")).status_code == 404


def test_integration_tokens_may_read_threads_but_not_change_them(api):
    thread_id = post(api)["thread_id"]

    assert api.get(f"/api/v1/threads/{thread_id}").status_code == 200
    assert api.post(url(thread_id, "resolve")).status_code == 403
    assert client_for(ApiTokenFactory(role=Role.ADMIN)).post(url(thread_id, "resolve")).status_code == 201


def test_a_body_over_the_limit_is_a_413_problem_on_every_command(api, agent_api, settings):
    thread_id = post(api)["thread_id"]
    count = StoredEvent.objects.count()

    response = agent_api.post(
        url(thread_id, "notes"),
        '{"text": "' + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + '"}',
        content_type="application/json",
    )

    assert response.status_code == 413 and response["Content-Type"] == "application/problem+json"
    assert response.json()["type"].endswith("/payload-too-large")
    assert StoredEvent.objects.count() == count


def test_a_chunked_body_is_refused_with_411_where_the_server_cannot_read_it(api, agent_api):
    """Under WSGI (Django's test client here) a body without Content-Length cannot be read at all."""
    thread_id = post(api)["thread_id"]
    count = StoredEvent.objects.count()

    response = agent_api.post(
        url(thread_id, "notes"),
        '{"text": "chunked"}',
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        CONTENT_LENGTH="",
    )

    assert response.status_code == 411 and response.json()["type"].endswith("/length-required")
    assert StoredEvent.objects.count() == count


@pytest.mark.parametrize(
    ("command", "body"),
    [
        ("notes", {"text": "Called back, sorted"}),
        ("resolve", {"reason": "sorted"}),
        ("assign", {}),
    ],
)
def test_a_command_sent_again_with_its_idempotency_key_is_done_once(api, agent_api, command, body):
    # A retry after a lost answer added a second note (or, for resolve, answered 409 to a command that had
    # been done).
    thread_id = post(api)["thread_id"]
    key = {"HTTP_IDEMPOTENCY_KEY": "4f0c1a2e-retry-me"}

    first = agent_api.post(url(thread_id, command), body, format="json", **key)
    again = agent_api.post(url(thread_id, command), body, format="json", **key)

    assert first.status_code == again.status_code == 201, again.content
    assert again.json() == first.json()
    assert again["Threadline-Position"] == first["Threadline-Position"]
    events = StoredEvent.objects.filter(stream=f"thread-{thread_id}", source="/threadline/api")
    assert events.count() == 1
    assert "4f0c1a2e" not in str(events.get().event_id)  # the key is hashed, never stored


def test_an_idempotency_key_used_for_another_request_is_a_409_and_writes_nothing(api, agent_api):
    thread_id = post(api)["thread_id"]
    another_thread = post(api, subject="tel:+15559990001")["thread_id"]
    key = {"HTTP_IDEMPOTENCY_KEY": "k-1"}
    assert agent_api.post(url(thread_id, "notes"), {"text": "first"}, format="json", **key).status_code == 201
    count = StoredEvent.objects.count()

    other_text = agent_api.post(url(thread_id, "notes"), {"text": "second"}, format="json", **key)
    other_command = agent_api.post(url(thread_id, "resolve"), {}, format="json", **key)

    # The same note on another thread: its data does not name the thread, and it was answered 201 with the
    # first thread's note, its own never written.
    other_thread = agent_api.post(url(another_thread, "notes"), {"text": "first"}, format="json", **key)

    for answer in (other_text, other_command, other_thread):
        assert answer.status_code == 409 and answer["Content-Type"] == "application/problem+json"
        assert "Idempotency-Key was used for another request" in answer.json()["detail"]
    assert StoredEvent.objects.count() == count
    # Another client's same key is its own.
    other = client_for(ApiTokenFactory(role=Role.AGENT))
    assert other.post(url(thread_id, "notes"), {"text": "second"}, format="json", **key).status_code == 201


@pytest.mark.parametrize("value", ["", "x" * 256, "has space", "caf\u00e9"])
def test_a_malformed_idempotency_key_is_a_400_naming_it_and_writes_nothing(api, agent_api, value):
    thread_id = post(api)["thread_id"]
    count = StoredEvent.objects.count()

    answer = agent_api.post(url(thread_id, "notes"), {"text": "x"}, format="json", HTTP_IDEMPOTENCY_KEY=value)

    assert answer.status_code == 400 and answer["Content-Type"] == "application/problem+json"
    assert answer.json()["errors"][0]["field"] == "Idempotency-Key"
    assert StoredEvent.objects.count() == count


def test_a_request_racing_another_with_the_same_key_is_refused_not_answered_with_the_others_event(
    api, agent_api, monkeypatch
):
    # Requests on two customers' threads take different locks: the second can look for its key before the
    # first commits, and then meet the first's event in the append. It was answered 201 with that event
    # (another thread's note), and its own resolve was dropped.
    first_thread = post(api)["thread_id"]
    second_thread = post(api, subject="tel:+15559990000")["thread_id"]
    key = {"HTTP_IDEMPOTENCY_KEY": "raced"}
    assert agent_api.post(url(first_thread, "notes"), {"text": "x"}, format="json", **key).status_code == 201
    monkeypatch.setattr(services, "first_answer", lambda event, key, **kw: None)  # it looked before that

    answer = agent_api.post(url(second_thread, "resolve"), {}, format="json", **key)
    same_note = agent_api.post(url(second_thread, "notes"), {"text": "x"}, format="json", **key)

    assert answer.status_code == 409, answer.content
    assert Thread.objects.get(pk=second_thread).status == "open"
    assert same_note.status_code == 409, same_note.content  # the same note, but on another thread
