"""Helpers for journey tests: post events through the real ingest API and read context back."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import cloud_event

EVENTS = "/api/v1/events"


def post(api, **overrides: Any) -> dict[str, Any]:
    """Post one structured event; return the ingest result (position, customer_id, thread_id)."""
    response = api.generic(
        "POST", EVENTS, json.dumps(cloud_event(**overrides)), content_type="application/cloudevents+json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def context(api, identifier: str) -> dict[str, Any]:
    response = api.get("/api/v1/context", {"identifier": identifier})
    assert response.status_code == 200, response.content
    return response.json()
