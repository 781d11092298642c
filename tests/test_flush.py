"""The test run's own flush after a transactional test (_flush_written_tables, tests/conftest.py): it leaves
the database as Django's flush does, every table the test wrote emptied and the content types and permissions
migrate made still there, so the next test starts from the same state."""

from __future__ import annotations

import json

import pytest
from django.apps import apps
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import TransactionTestCase

from tests.conftest import _flush_written_tables, _sqlite_log_triggers, cloud_event

KEPT = (ContentType, Permission)
STRUCTURED = "application/cloudevents+json"


def _counts() -> dict[str, int]:
    return {
        model._meta.db_table: model._base_manager.count()
        for model in apps.get_models(include_auto_created=True)
    }


@pytest.mark.django_db(transaction=True)
def test_the_flush_empties_every_table_a_test_wrote_and_keeps_what_migrate_made(api):
    kept = {model: sorted(model.objects.values_list("pk", flat=True)) for model in KEPT}
    assert all(kept.values())  # migrate made them
    # An event through the API writes the log, a customer, a thread and read models.
    event = json.dumps(cloud_event())
    assert api.generic("POST", "/api/v1/events", event, content_type=STRUCTURED).status_code == 201
    written = {table for table, n in _counts().items() if n}
    assert {"hub_event", "interactions_customer", "interactions_thread"} <= written
    if connection.vendor == "sqlite":
        _sqlite_log_triggers(install=False)  # as the test's own teardown does before its flush

    _flush_written_tables(TransactionTestCase())

    left = {table: n for table, n in _counts().items() if n}
    assert left == {model._meta.db_table: len(pks) for model, pks in kept.items()}
    for model, pks in kept.items():
        assert sorted(model.objects.values_list("pk", flat=True)) == pks
