"""/readyz: ready or not for anyone; the database, projections and subscriptions for supervisors. And any
request while the database is unreachable: a 503 saying to retry."""

import contextlib
from datetime import timedelta

import pytest
from django.db import DatabaseError, OperationalError, connection, transaction
from django.db.migrations.recorder import MigrationRecorder
from rest_framework.test import APIClient

from hub import projections, schema, subscriptions
from hub.models import ProjectionCheckpoint, Subscription
from hub.versions import version_of
from interactions.access.tokens import token_revoke
from interactions.api.problems import database_unavailable
from interactions.models import Role
from tests.conftest import client_for, latest_migration
from tests.factories import ApiTokenFactory

pytestmark = pytest.mark.django_db

SQL_ERROR = 'UniqueViolation: duplicate key value violates unique constraint "secret_index" DETAIL: Key (x)'


@pytest.fixture
def failed_projection():
    callbacks = next(p for p in projections.projectors() if p.name == "callbacks")
    ProjectionCheckpoint.objects.update_or_create(
        name="callbacks",
        # Built by the current version: only the failure is to be reported.
        defaults={
            "position": 3,
            "last_error": SQL_ERROR,
            "failed_position": 4,
            "built_version": version_of(callbacks),
        },
    )
    subscriptions.ensure_rows(["threads"])
    Subscription.objects.filter(name="threads").update(
        position=3, state="parked", last_error=SQL_ERROR, failed_position=4, attempts=2
    )


def test_readyz_without_a_token_says_ready_and_nothing_else(failed_projection):
    response = APIClient().get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready"}
    assert "secret_index" not in response.content.decode()


def test_readyz_without_a_token_when_the_database_is_down_says_not_ready_without_its_error(monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError('connection to server failed: FATAL: password authentication failed for "hub"')

    monkeypatch.setattr(connection, "cursor", refuse)
    response = APIClient().get("/readyz")

    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    body = response.content.decode()
    assert "password" not in body and "OperationalError" not in body and "FATAL" not in body
    assert response.json()["detail"] == "the hub is not ready"


def test_readyz_is_not_ready_while_a_migration_is_not_applied_and_logs_which(monkeypatch, caplog):
    """A server started before `migrate` (a fresh database, or an upgrade that added a migration) said ready
    and answered every request with a 500 from tables that were not there yet."""
    admin = client_for(ApiTokenFactory(role=Role.ADMIN))
    monkeypatch.setattr(schema, "_all_applied", False)  # as in a process that has not looked yet
    latest = latest_migration("people")
    MigrationRecorder(connection).record_unapplied("people", latest)  # rolled back with the test

    for client in (APIClient(), admin):
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["detail"] == "the hub is not ready"
    assert f"not ready: 1 migration is not applied (people.{latest}): run manage.py migrate" in caplog.text

    MigrationRecorder(connection).record_applied("people", latest)  # `migrate` ran
    assert APIClient().get("/readyz").json() == {"status": "ready"}
    assert schema.unapplied() == []


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.ADMIN])
def test_readyz_with_a_supervisor_or_admin_token_shows_the_database_and_each_projection(
    failed_projection, role
):
    response = client_for(ApiTokenFactory(role=role)).get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready" and body["database"] == connection.vendor
    assert {p["name"]: (p["position"], p["error"]) for p in body["projections"]} == {
        "placement": (0, ""),
        "callbacks": (3, SQL_ERROR),
        "followups": (0, ""),
    }
    subscribed = {s["name"]: s for s in body["subscriptions"]}
    assert set(subscribed) >= {"customers", "threads", "presence"}
    threads = subscribed["threads"]
    assert (threads["state"], threads["position"], threads["failed_position"], threads["attempts"]) == (
        "parked",
        3,
        4,
        2,
    )
    assert threads["error"] == SQL_ERROR and "lag_events" in threads and "lag_seconds" in threads


def test_readyz_details_warn_of_each_subscription_no_runner_holds(settings):
    admin = client_for(ApiTokenFactory(role=Role.ADMIN))
    assert admin.get("/readyz").json()["warnings"] == []  # applied in each append (the tests' setting)
    settings.THREADLINE_SUBSCRIPTIONS_EAGER = False  # as in production: runners apply them
    names = sorted(subscriptions.registered())
    subscriptions.ensure_rows(names)
    for name in names[1:]:
        assert subscriptions.acquire(name, "runner-1", timedelta(seconds=30))

    body = admin.get("/readyz").json()

    assert body["status"] == "ready"
    assert body["warnings"] == [
        f"no runner holds subscription {names[0]}: new events will not be applied;"
        " start manage.py run_subscriptions"
    ]
    assert {s["name"]: s["runner"] for s in body["subscriptions"]} == {
        name: "" if name == names[0] else "runner-1" for name in names
    }
    assert subscriptions.acquire(names[0], "runner-1", timedelta(seconds=30))
    assert admin.get("/readyz").json()["warnings"] == []


def test_readyz_details_warn_of_a_parked_subscription_and_a_failed_projection_saying_what_to_do():
    admin = client_for(ApiTokenFactory(role=Role.ADMIN))
    assert admin.get("/readyz").json()["warnings"] == []

    callbacks = next(p for p in projections.projectors() if p.name == "callbacks")
    ProjectionCheckpoint.objects.update_or_create(
        name="callbacks",
        # Built by the current version: only the failure is to be reported.
        defaults={
            "position": 3,
            "last_error": SQL_ERROR,
            "failed_position": 4,
            "built_version": version_of(callbacks),
        },
    )
    subscriptions.ensure_rows(["threads"])
    Subscription.objects.filter(name="threads").update(
        position=3, state="parked", last_error=SQL_ERROR, failed_position=4, attempts=2
    )
    body = admin.get("/readyz").json()

    assert body["status"] == "ready"  # events are still accepted and kept: the warnings say what to do
    assert body["warnings"] == [
        "subscription threads is parked on the event at position 4 (2 attempts; its error is under the"
        " subscription): its read model stays at position 3 while the log goes on; fix the cause and run"
        " manage.py subscriptions resume threads, or skip the event with manage.py subscriptions skip"
        " threads 4 --reason '...'",
        "projection callbacks failed on the events from position 4 (its error is under the projection): it"
        " stays at position 3, and every append retries it from there until the cause is fixed",
    ]
    assert "secret_index" not in " ".join(body["warnings"])  # the raw error stays in its own field

    subscriptions.skip("threads", 4, reason="a bad row")
    ProjectionCheckpoint.objects.filter(name="callbacks").update(last_error="", failed_position=None)
    assert admin.get("/readyz").json()["warnings"] == []


@pytest.mark.parametrize("role", [Role.AGENT, Role.INTEGRATION])
def test_readyz_details_are_refused_to_agents_and_integrations(failed_projection, role):
    response = client_for(ApiTokenFactory(role=role)).get("/readyz")

    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert f"{role} token may not read health details" in response.json()["detail"]
    assert "secret_index" not in response.content.decode()


def test_readyz_in_a_supervisors_browser_shows_the_details_in_an_agents_the_plain_answer(failed_projection):
    """A signed-in supervisor opening /readyz in the browser sees what their token would; an agent's session
    (sent by the browser unasked) is treated as no credential, not refused."""
    from django.test import Client

    from interactions.people.services import person_create

    for name, role in (("sam", Role.SUPERVISOR), ("ann", Role.AGENT)):
        person_create(username=name, role=role, password="correct horse battery staple")
    browsers = {}
    for name in ("sam", "ann"):
        browsers[name] = Client()
        signed = browsers[name].post(
            "/accounts/login/", {"username": name, "password": "correct horse battery staple"}
        )
        assert signed.status_code == 302

    details = browsers["sam"].get("/readyz")
    plain = browsers["ann"].get("/readyz")

    assert details.status_code == 200
    parked = {s["name"]: s for s in details.json()["subscriptions"]}["threads"]
    assert (parked["state"], parked["failed_position"]) == ("parked", 4)
    assert (plain.status_code, plain.json()) == (200, {"status": "ready"})


def test_readyz_with_a_revoked_token_is_401(failed_projection):
    token = ApiTokenFactory(role=Role.ADMIN)
    token_revoke(token)

    response = client_for(token).get("/readyz")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "secret_index" not in response.content.decode()


@contextlib.contextmanager
def database_unreachable_now():
    """The database the hub uses becomes unreachable (a closed port; a file in a folder that does not
    exist), for real: the next query's connection fails in the driver."""
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "postgresql":
        connection.settings_dict.update(HOST="127.0.0.1", PORT="1")
    else:
        connection.settings_dict["NAME"] = "/nonexistent-threadline/unreachable.sqlite3"
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "method, path, body, content_type",
    [
        ("GET", "/api/v1/context?identifier=tel:%2B15550001111", None, None),
        ("POST", "/api/v1/events", '{"specversion": "1.0"}', "application/cloudevents+json"),
        # Not the API: Django's sign-in form, which looks the user up.
        ("POST", "/accounts/login/", "username=ann&password=secret", "application/x-www-form-urlencoded"),
    ],
    ids=["context", "events", "sign-in"],
)
def test_a_request_while_the_database_is_unreachable_is_a_503_problem_saying_to_retry(
    integration_token, method, path, body, content_type
):
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {integration_token.raw}")
    token_secret = integration_token.raw
    with database_unreachable_now():
        response = client.generic(method, path, body or "", content_type=content_type)

    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json" and response["Retry-After"] == "5"
    problem = response.json()
    assert problem["type"].endswith("/database-unavailable") and "try again" in problem["detail"]
    assert token_secret not in response.content.decode()


def test_a_database_error_a_retry_would_meet_again_stays_a_500():
    """A missing table (an unapplied migration) or a statement timeout is no outage: retrying fails again."""
    with pytest.raises(DatabaseError) as missing, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM threadline_no_such_table")
    assert not database_unavailable(missing.value)
    if connection.vendor == "postgresql":
        with pytest.raises(OperationalError) as late, transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = 1")
            cursor.execute("SELECT pg_sleep(1)")
        assert not database_unavailable(late.value)


def test_readyz_details_warn_of_each_read_model_an_older_projector_version_built(monkeypatch):
    customers = next(h for h in subscriptions.handlers() if h.name == "customers")
    subscriptions.ensure_rows(["customers"])
    admin = client_for(ApiTokenFactory(role=Role.ADMIN))
    assert admin.get("/readyz").json()["warnings"] == []

    built = version_of(customers)
    monkeypatch.setattr(customers, "version", built + 1, raising=False)  # a deploy changed the projector
    body = admin.get("/readyz").json()

    assert body["status"] == "ready"  # it still serves: the warning says what to do
    assert body["warnings"] == [
        f"subscription customers was built by version {built} of its projector and this code is version"
        f" {built + 1}: its rows mix what both made until it is rebuilt (manage.py rebuild_projections"
        " --online customers)"
    ]
    by_name = {s["name"]: s for s in body["subscriptions"]}
    assert (by_name["customers"]["version"], by_name["customers"]["built_version"]) == (built + 1, built)
