"""Every hostile input of the corpus (tests/corpora/hostile.py) gets its 400 or 422 problem naming the field,
and changes nothing: not the log, not a read model, not a checkpoint. The same tests run on SQLite
(`make test`) and PostgreSQL (CI), so both databases give the same answer."""

from __future__ import annotations

import pytest

from tests.conftest import client_for, store_snapshot
from tests.corpora.hostile import CASES, ENTRY_POINTS, Case
from tests.factories import ApiTokenFactory
from tests.interactions.helpers import post

pytestmark = pytest.mark.django_db


@pytest.fixture
def targets(api, supervisor_api) -> dict[str, str]:
    """A thread and a callback for the entry points that act on one."""
    placed = post(api, id="existing")
    response = supervisor_api.post(
        "/api/v1/callbacks", {"identifier": "tel:+15551234567", "phone": "+15551234567"}, format="json"
    )
    assert response.status_code == 201, response.content
    return {
        "thread": placed["thread_id"],
        "callback": response.json()["id"],
        "customer": placed["customer_id"],
    }


def _meta(headers: dict[str, str]) -> dict[str, str]:
    return {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input_is_refused_naming_the_field_and_changes_nothing(case: Case, api, targets):
    entry = ENTRY_POINTS[case.entry]
    client = api if entry.role == "integration" else client_for(ApiTokenFactory(role=entry.role))
    before = store_snapshot()

    response = client.generic(
        "POST",
        entry.path.format(**targets),
        case.body.encode("utf-8", "surrogatepass"),
        content_type=entry.content_type,
        **_meta(case.headers),
    )

    assert response.status_code == case.status, response.content
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    named = [
        e
        for e in problem.get("errors", [])
        if e["field"] == case.field or e["field"].startswith(case.field + ".")
    ]
    assert named, problem
    if case.index is not None:
        assert named[0]["index"] == case.index, problem
    assert store_snapshot() == before


def test_a_hostile_event_from_a_source_outside_the_tokens_prefix_is_still_a_403(api):
    response = api.generic(
        "POST",
        "/api/v1/events",
        '{"specversion": "1.0", "id": "x", "source": "/elsewhere", "type": "message.received",'
        ' "subject": "tel:+15551234567", "data": {"channel": "sms", "text": "a\\u0000"}}',
        content_type="application/cloudevents+json",
    )
    assert response.status_code == 403, response.content
