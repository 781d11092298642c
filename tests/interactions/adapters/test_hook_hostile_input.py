"""Every hostile delivery of the corpus (tests/corpora/hostile.py, HOOK_CASES), signed or authenticated as
its provider would, gets its problem answer and changes nothing: not the log, not a read model, not a
checkpoint, not the count of ignored deliveries. Runs on SQLite and PostgreSQL alike."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from django.test import Client

from interactions.connections.models import IgnoredDelivery
from interactions.connections.services import connection_create
from tests.conftest import store_snapshot
from tests.corpora.hostile import HOOK_CASES, HookCase

pytestmark = pytest.mark.django_db

APP_SECRET = "hostile-app-secret"
MAIL_SECRET = "hostile-mail-secret-0123456789"


@pytest.fixture
def connections():
    connection_create(provider="meta", name="main", secrets={"app_secret": APP_SECRET, "verify_token": "v"})
    connection_create(provider="email", name="support", secrets={"secret": MAIL_SECRET})


def _send(case: HookCase):
    if case.hook == "meta":
        signature = "sha256=" + hmac.new(APP_SECRET.encode(), case.body, hashlib.sha256).hexdigest()
        headers = {"HTTP_X_HUB_SIGNATURE_256": signature}
        url = "/hooks/meta/main/webhook"
    else:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {MAIL_SECRET}"}
        url = "/hooks/email/support/inbound"
    return Client().generic("POST", url, case.body, content_type=case.content_type, **headers)


@pytest.mark.parametrize("case", HOOK_CASES, ids=[f"{c.hook}: {c.name}" for c in HOOK_CASES])
def test_hostile_delivery_is_refused_and_changes_nothing(case: HookCase, connections):
    before = store_snapshot()

    response = _send(case)

    assert response.status_code == case.status, response.content
    assert response["Content-Type"] == "application/problem+json"
    if case.field is not None:
        named = [e.get("field") for e in response.json().get("errors", [])]
        assert any(f == case.field or f.startswith(case.field + ".") for f in named), response.json()
    assert store_snapshot() == before
    assert not IgnoredDelivery.objects.exists()
