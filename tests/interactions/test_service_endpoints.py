"""Health, readiness, the OpenAPI schema and its docs page, and problem+json for unknown paths."""

import pytest
from rest_framework.test import APIClient

from interactions.api.problems import problem

pytestmark = pytest.mark.django_db


def test_healthz_and_readyz():
    client = APIClient()

    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}  # details: tests/…/test_health.py


def test_openapi_schema_describes_the_events_endpoint_and_bearer_auth():
    response = APIClient().get("/api/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    schema = response.json()
    assert response.status_code == 200
    assert "/api/v1/events" in schema["paths"]
    assert schema["components"]["securitySchemes"]["bearerToken"]["scheme"] == "bearer"


def test_docs_page_is_served_without_any_outside_asset():
    response = APIClient().get("/api/v1/docs")

    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html and "cdn.jsdelivr" not in html


def test_unknown_path_is_a_problem_json_404():
    response = APIClient().get("/api/v1/nowhere")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_a_problem_never_echoes_control_characters_or_lone_surrogates():
    response = APIClient().get("/api/v1/nowhere%00x%1by%7fz%c2%85")

    detail = response.json()["detail"]
    assert detail == "nothing at /api/v1/nowhere\ufffdx\ufffdy\ufffdz\ufffd"
    body = problem(400, "x", "a\ud800b\tc\nd", errors=[{"field": "f\udfff\x00", "message": "m"}])
    assert body["detail"] == "a\ufffdb\tc\nd"
    assert body["errors"] == [{"field": "f\ufffd\ufffd", "message": "m"}]


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_a_probe_takes_only_get_and_head_and_says_so_as_a_problem(path):
    client = APIClient(enforce_csrf_checks=True)

    response = client.post(path)

    assert response.status_code == 405 and response["Allow"] == "GET, HEAD"
    assert response["Content-Type"] == "application/problem+json"
    assert client.head(path).status_code == 200
