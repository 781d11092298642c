"""The API description tells the truth: schemathesis fuzzes every operation of the served schema
(/api/v1/schema) with a token of each role, with data that fits the schema and data that does not, and
finds no server error, no undocumented status, content type or header, no answer that violates its
schema, no schema-violating request accepted, and no operation that ignores its token.

Requests go through Django's WSGI application in this process, against the real test database (and, on the
PostgreSQL run, the real broker). "Schema-valid request rejected" is not checked: the schema cannot say
that a phone number must be possible for its country, or that a thread must exist; every such refusal is a
documented 4xx problem, which the other checks hold it to.
"""

from __future__ import annotations

import json
import uuid

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from interactions.access.models import Role
from interactions.api.openapi import ROLES_EXTENSION
from tests.factories import ApiTokenFactory

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]


# Loaded from the served URL, as a client would; generating the description touches no table.
schema = schemathesis.openapi.from_wsgi("/api/v1/schema", get_wsgi_application())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
# A batch over THREADLINE_MAX_BATCH is refused as 413 Content Too Large, as documented.
schema.config.checks.negative_data_rejection.expected_statuses += ["413"]

# Schemathesis puts a bearer token on each request it means to authenticate (and none on those that test
# a missing one); the test swaps in the token of the role under test.
PENDING = "role-token-pending"


@schema.auth(refresh_interval=None)
class RoleToken:
    def get(self, case, context) -> str:
        return PENDING

    def set(self, case, data: str, context) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture(autouse=True)
def _one_connection():
    """As Django's test client does: the WSGI handler would close the connection after each request, and
    with it the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _authenticate_as(role: str, case) -> bool:
    if (case.headers or {}).get("Authorization") == f"Bearer {PENDING}":
        # The README's integration token: its prefix is /sms-gateway/, as the schema's examples' source is.
        prefix = "/sms-gateway/" if role == Role.INTEGRATION else ""
        case.headers["Authorization"] = f"Bearer {ApiTokenFactory(role=role, source_prefix=prefix).raw}"
        return True
    return False


def _call(case, role: str) -> None:
    authenticated = _authenticate_as(role, case)
    response = case.call_and_validate(checks=CHECKS)
    if authenticated:  # the role's token was on the request, and was taken
        assert response.status_code != 401, response.text


_FUZZ = {"deadline": None, "derandomize": True, "database": None, "suppress_health_check": list(HealthCheck)}


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.INTEGRATION, Role.ADMIN], ids=str)
@schema.parametrize()
@settings(max_examples=8, **_FUZZ)
def test_every_operation_keeps_to_its_description(case, role):
    """The roles that may post events (and so reach the most code) get the most examples."""
    _call(case, role)


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.AGENT, Role.SUPERVISOR], ids=str)
# Their posts of events are refused (403) whatever the body; the roles test shows it, at a fraction of the
# cost of fuzzing batches of a thousand events that end there.
@schema.exclude(path="/api/v1/events", method="POST").parametrize()
@settings(max_examples=4, **_FUZZ)
def test_every_operation_keeps_to_its_description_for_people(case, role):
    _call(case, role)


def _served_schema(client) -> dict:
    response = client.get("/api/v1/schema", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return response.json()


@pytest.mark.django_db
def test_the_schemas_event_examples_are_written_with_the_readmes_integration_token(client):
    """Each mode's example, as the served description gives it, posted with the README's token (prefix
    /sms-gateway/): structured, batch and binary mode (its ce-* headers from their examples) answer 201."""
    operation = _served_schema(client)["paths"]["/api/v1/events"]["post"]
    token = ApiTokenFactory(role=Role.INTEGRATION, source_prefix="/sms-gateway/").raw
    headers = {
        p["name"]: next(iter(p["examples"].values()))["value"]
        for p in operation["parameters"]
        if p["in"] == "header" and p["name"].startswith("ce-")
    }
    answers = {}
    for media_type, content in operation["requestBody"]["content"].items():
        (example,) = content["examples"].values()
        extra = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
        response = client.post(
            "/api/v1/events",
            data=json.dumps(example["value"]),
            content_type=media_type,
            HTTP_AUTHORIZATION=f"Bearer {token}",
            **(extra if media_type == "application/json" else {}),
        )
        answers[media_type] = (response.status_code, response.json())
    assert {m: status for m, (status, _) in answers.items()} == {
        "application/cloudevents+json": 201,
        "application/cloudevents-batch+json": 201,
        "application/json": 201,
    }, answers
    assert answers["application/json"][1]["id"] == "sms-0003"  # binary mode: the id from ce-id


@pytest.mark.django_db
def test_every_operation_says_which_roles_may_call_it_and_the_rules_agree(client):
    """The roles the description names for each operation are exactly those the access rules let past 403:
    each operation is called by a token of every role, and only the unnamed roles are refused."""
    described = _served_schema(client)["paths"]
    refused: dict[tuple[str, str], set[str]] = {}
    for path, operations in described.items():
        for method, operation in operations.items():
            if ROLES_EXTENSION not in operation:
                assert operation.get("security") in (None, [], [{}]), f"{method} {path} names no roles"
                continue
            for role in Role:
                token = ApiTokenFactory(role=role, source_prefix="/sms-gateway/").raw
                url = path.replace("{thread_id}", str(uuid.uuid4())).replace(
                    "{callback_id}", str(uuid.uuid4())
                )
                url = url.replace("{customer_id}", str(uuid.uuid4())).replace(
                    "{followup_id}", str(uuid.uuid4())
                )
                response = client.generic(
                    method.upper(),
                    url,
                    data=json.dumps(_body_for(path)),
                    content_type="application/json" if path != "/api/v1/events" else _CE,
                    HTTP_AUTHORIZATION=f"Bearer {token}",
                )
                if response.status_code == 403:
                    refused.setdefault((method, path), set()).add(str(role))
            allowed = set(operation[ROLES_EXTENSION])
            assert refused.get((method, path), set()) == {str(r) for r in Role} - allowed, (method, path)


_CE = "application/cloudevents+json"


def _body_for(path: str) -> object:
    """A body each operation can read, so that what refuses a role is the role (or a missing resource)."""
    if path == "/api/v1/events":
        return {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "/sms-gateway/eu-1",
            "type": "message.received",
            "subject": "tel:+15551234567",
            "data": {"channel": "sms", "text": "hello"},
        }
    if path == "/api/v1/callbacks":
        return {"identifier": "tel:+15551234567", "phone": "+15551234567"}
    if path.endswith("/notes"):
        return {"text": "a note"}
    if path.endswith("/outcome"):
        return {"outcome": "completed"}
    if path.endswith("/close"):
        return {"action": "explained"}
    if path.endswith("/assign"):
        return {}  # an agent takes the thread; naming another agent is refused to agents (its own test)
    return {}


@pytest.mark.django_db
def test_every_operation_that_takes_a_body_documents_the_413_it_answers_to_one_too_large(client, settings):
    """A body over the limit is refused with 413 on every POST, and each operation's description says so
    (schemathesis never sends a body that large)."""
    described = _served_schema(client)["paths"]
    token = ApiTokenFactory(role=Role.ADMIN).raw
    body = '{"reason": "' + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + '"}'
    undocumented, answered = {}, {}
    for path, operations in described.items():
        if "post" not in operations:
            continue
        url = path.replace("{rule_id}", "mention-callback")
        for name in ("thread_id", "callback_id", "customer_id", "followup_id"):
            url = url.replace(f"{{{name}}}", str(uuid.uuid4()))
        content_type = _CE if path == "/api/v1/events" else "application/json"
        response = client.post(url, body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {token}")
        answered[path] = response.status_code
        if str(response.status_code) not in operations["post"]["responses"]:
            undocumented[path] = response.status_code
    assert undocumented == {}
    # Each operation that reads a body before anything else refuses one too large.
    assert answered["/api/v1/callbacks"] == 413
    assert answered["/api/v1/customers/{customer_id}/next-best-actions/{rule_id}/taken"] == 413
    assert answered["/api/v1/threads/{thread_id}/notes"] == 413
