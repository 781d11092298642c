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


def user_change_form(user, **fields: Any) -> dict[str, Any]:
    """The admin's change form of a Django user as a browser posts it, with `fields` changed (None leaves a
    field out, as an unticked box is)."""
    form = {
        "username": user.username, "first_name": user.first_name, "last_name": user.last_name,
        "email": user.email, "is_active": "on", "date_joined_0": "2026-12-04", "date_joined_1": "10:00:00",
        "last_login_0": "", "last_login_1": "", "groups": [str(g.pk) for g in user.groups.all()],
    }  # fmt: skip
    form.update(fields)
    return {k: v for k, v in form.items() if v is not None}
