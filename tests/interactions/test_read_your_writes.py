"""Read your own writes: writes answer with their position, reads honour min_position or answer 503."""

from __future__ import annotations

import pytest
from django.utils import timezone

from hub import subscriptions
from hub.runner import Runner
from interactions import projections
from interactions.models import Role
from tests.conftest import client_for
from tests.factories import ApiTokenFactory
from tests.interactions.helpers import post

pytestmark = pytest.mark.django_db
HEADER = "Threadline-Position"


@pytest.fixture(autouse=True)
def _no_runner_yet(settings):
    """The read models are applied only when a test runs a runner's pass itself."""
    settings.THREADLINE_SUBSCRIPTIONS_EAGER = False
    settings.THREADLINE_READ_WAIT_SECONDS = 0.2


def apply_read_models() -> None:
    runner = Runner([p.name for p in projections.subscribed()], owner="test-runner")
    subscriptions.ensure_rows(runner.names)
    while runner.pass_once():
        pass


def test_a_write_answers_with_its_position_in_the_body_and_the_header(api):
    response = api.generic(
        "POST",
        "/api/v1/events",
        '{"specversion": "1.0", "id": "rw-1", "source": "/sms-gateway/eu-1", "type": "message.received",'
        ' "subject": "tel:+15551234567", "data": {"channel": "sms", "text": "hi"}}',
        content_type="application/cloudevents+json",
    )

    assert response.status_code == 201
    assert response[HEADER] == str(response.json()["position"])


def test_a_callback_request_answers_with_its_own_position_not_its_read_models(supervisor_api):
    # POST and GET /callbacks are one view; the read's header must not replace the write's.
    for _ in range(2):  # a read position is taken before the request writes: it would lag by its events
        response = supervisor_api.post(
            "/api/v1/callbacks",
            {"identifier": "tel:+15551234567", "phone": "+15551234567", "reason": "bill", "topic": "billing"},
            format="json",
        )
        assert response.status_code == 201, response.content
        assert response[HEADER] == str(response.json()["position"])


def test_a_read_behind_min_position_answers_503_with_retry_after_and_both_positions(api, caplog):
    written = post(api, subject="tel:+15551234567")

    response = api.get(
        "/api/v1/context", {"identifier": "tel:+15551234567", "min_position": written["position"]}
    )

    assert response.status_code == 503 and response["Retry-After"] == "1"
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["min_position"] == written["position"] and body["position"] < written["position"]
    assert body["type"].endswith("/not-caught-up")
    # A warning for operators, not an ERROR each time a client should retry.
    assert [(r.levelname, r.name) for r in caplog.records if "/api/v1/context" in r.getMessage()] == [
        ("WARNING", "interactions.api.problems")
    ]


def test_once_the_read_models_applied_the_write_the_read_answers_with_their_position(api):
    written = post(api, subject="tel:+15551234567")
    apply_read_models()

    response = api.get(
        "/api/v1/context", {"identifier": "tel:+15551234567", "min_position": written["position"]}
    )

    assert response.status_code == 200
    assert int(response[HEADER]) >= written["position"]
    (thread,) = response.json()["open_threads"]
    assert thread["id"] == written["thread_id"]


def test_every_read_served_from_a_read_model_carries_its_position(api, agent_api):
    written = post(api, subject="tel:+15551234567")
    apply_read_models()
    thread_id = written["thread_id"]

    for path in (
        "/api/v1/threads",
        f"/api/v1/threads/{thread_id}",
        f"/api/v1/customers/{written['customer_id']}/context",
        "/api/v1/callbacks",
    ):
        response = agent_api.get(path, {"min_position": written["position"]})
        assert response.status_code == 200, (path, response.content)
        assert int(response[HEADER]) >= written["position"], path


def test_a_read_that_finds_nothing_yet_says_up_to_where_it_looked(api, agent_api):
    """In the log but not yet in the read models: the 404 carries the position they had reached, below the
    write's, so a client can tell "not yet" from "no such customer" (and wait with min_position)."""
    written = post(api, subject="tel:+15551234567")

    for path in (
        f"/api/v1/threads/{written['thread_id']}",
        f"/api/v1/customers/{written['customer_id']}/context",
        "/api/v1/context?identifier=tel:%2B15551234567",
    ):
        response = agent_api.get(path)
        assert response.status_code == 404, (path, response.content)
        assert int(response[HEADER]) < written["position"], path
    apply_read_models()
    assert agent_api.get(f"/api/v1/threads/{written['thread_id']}").status_code == 200


@pytest.mark.parametrize("bad", ["-1", "abc", "1.5", "99999999999999999999"])
def test_a_bad_min_position_is_a_400_naming_the_field(api, bad):
    response = api.get("/api/v1/threads", {"min_position": bad})

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "min_position", "message": "a whole number from 0 to 999999999999999999"}
    ]


def test_a_min_position_beyond_the_logs_last_is_a_400_at_once_not_a_wait(api):
    """No write has answered with a position past the log's last: waiting for it could only time out."""
    written = post(api, subject="tel:+15551234567")

    response = api.get("/api/v1/threads", {"min_position": written["position"] + 1})

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "field": "min_position",
            "message": f"a log position; the log's last position is {written['position']}",
        }
    ]


def test_a_command_answers_with_its_position_and_the_thread_once_the_read_model_has_it(api):
    written = post(api, subject="tel:+15551234567")
    apply_read_models()
    supervisor = client_for(ApiTokenFactory(role=Role.SUPERVISOR))

    behind = supervisor.post(f"/api/v1/threads/{written['thread_id']}/resolve")

    assert behind.status_code == 201  # the command is in the log; the read model has not applied it yet
    assert behind[HEADER] == str(behind.json()["position"]) and behind.json()["thread"] is None
    apply_read_models()
    read = supervisor.get(
        f"/api/v1/threads/{written['thread_id']}", {"min_position": behind.json()["position"]}
    )
    assert read.status_code == 200 and read.json()["status"] == "resolved"
    # And a command against a thread whose state the write model knows is decided right, read model or not.
    again = supervisor.post(f"/api/v1/threads/{written['thread_id']}/resolve")
    assert again.status_code == 409


def test_the_dispatcher_offers_a_callback_only_once_the_context_holds_its_request(api, supervisor_api):
    """An offer carries the customer's context, read from read models: before they have applied the
    callback.requested event, the dispatcher leaves the callback for a later tick, so no offer's context is
    older than the event that asked for it."""
    from hub.models import StoredEvent
    from interactions.agents import services as presence
    from interactions.callbacks import dispatch

    agent = ApiTokenFactory(role=Role.AGENT)
    presence.agent_socket_open(agent=agent)
    presence.agent_status_set(agent=agent, status="available")
    # Today: the callback joins this thread, which the read models hold already, so only the guard waits.
    thread_id = post(api, subject="tel:+15551234567", time=timezone.now().isoformat())["thread_id"]
    apply_read_models()
    response = supervisor_api.post(
        "/api/v1/callbacks",
        {"identifier": "tel:+15551234567", "phone": "+15551234567", "reason": "refund please"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["thread_id"] == thread_id
    stream = f"callback-{response.json()['id']}"

    dispatch.callbacks_dispatch()  # the read models are behind the request
    assert not StoredEvent.objects.filter(stream=stream, type="callback.offered").exists()

    apply_read_models()
    dispatch.callbacks_dispatch()

    [offer] = StoredEvent.objects.filter(stream=stream, type="callback.offered")
    requested = StoredEvent.objects.get(stream=stream, type="callback.requested")
    assert offer.data["agent_id"] == str(agent.pk) and offer.position > requested.position
    assert offer.data["context"]["reason"] == "refund please"


def test_a_thread_list_filtered_by_customer_waits_for_the_customer_too(api, agent_api):
    """`customer=` is looked up in the customers read model: a read with min_position must wait for it as
    well as for the threads, not answer 404 "no customer" for the customer its own write created."""
    written = post(api, subject="tel:+15551234567")
    threads_only = Runner(["threads"], owner="test-runner")
    subscriptions.ensure_rows(threads_only.names)
    while threads_only.pass_once():
        pass
    query = {"customer": written["customer_id"], "min_position": written["position"]}

    assert agent_api.get("/api/v1/threads", query).status_code == 503  # the customers are behind: retry
    apply_read_models()
    response = agent_api.get("/api/v1/threads", query)
    assert response.status_code == 200
    assert [t["id"] for t in response.json()["results"]] == [written["thread_id"]]
