"""Bulk statements of the backends write and read rows as the ORM would: UUIDs as text, JSON, NULLs, dates."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction

from hub.backends import backend
from interactions.models import Customer, Thread

pytestmark = pytest.mark.django_db
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="about the psycopg cursor hub.bulk uses on PostgreSQL; set DATABASE_URL to a PostgreSQL server",
)
AT = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


def _customer(**fields) -> Customer:
    return Customer(id=str(uuid.uuid4()), created_at=AT, **fields)  # ids arrive as text from event data


def test_copy_then_update_rows_round_trip_through_the_orm():
    first, second = (
        _customer(name="Ada", preferences={"channel": "sms"}),
        _customer(birthday=date(1990, 1, 2)),
    )
    backend().copy_rows(Customer, [first, second])
    thread = Thread(
        id=uuid.uuid4(), customer_id=first.id, opened_at=AT, last_activity_at=AT, channels=["sms"]
    )
    backend().copy_rows(Thread, [thread])

    first.name, first.preferences, first.merged_into_id = (
        "Ada L.",
        {"channel": "email", "n": [1, 2]},
        second.id,
    )
    second.birthday, second.consent = None, {"sms": False}
    backend().update_rows(
        Customer, [first, second], ["name", "preferences", "merged_into", "birthday", "consent"]
    )
    thread.customer_id, thread.channels, thread.event_count = str(second.id), ["sms", "voice"], 7
    backend().update_rows(Thread, [thread], ["customer", "channels", "event_count"])

    a, b = Customer.objects.get(pk=first.id), Customer.objects.get(pk=second.id)
    assert (a.name, a.preferences, a.merged_into_id) == ("Ada L.", {"channel": "email", "n": [1, 2]}, b.pk)
    assert (b.birthday, b.consent, b.name) == (None, {"sms": False}, "")
    stored = Thread.objects.get(pk=thread.id)
    assert (stored.customer_id, stored.channels, stored.event_count) == (b.pk, ["sms", "voice"], 7)
    assert stored.opened_at == AT


def test_update_rows_leaves_other_rows_and_fields_alone():
    kept, changed = _customer(name="Kept", segment="gold"), _customer(name="Old", segment="silver")
    backend().copy_rows(Customer, [kept, changed])
    changed.name, changed.segment = "New", "ignored: not a listed field"
    backend().update_rows(Customer, [changed], ["name"])
    assert Customer.objects.get(pk=changed.id).segment == "silver"
    assert Customer.objects.get(pk=changed.id).name == "New"
    assert (Customer.objects.get(pk=kept.id).name, Customer.objects.get(pk=kept.id).segment) == (
        "Kept",
        "gold",
    )


def test_load_by_finds_rows_by_keys_given_as_text_or_uuid_and_types_their_values():
    rows = [_customer(name=f"c{i}", channel_counts={"sms": i}) for i in range(3)]
    backend().copy_rows(Customer, rows)
    found = backend().load_by(Customer, "id", [rows[0].id, uuid.UUID(rows[1].id), str(uuid.uuid4())])
    assert sorted(c.name for c in found) == ["c0", "c1"]
    loaded = next(c for c in found if c.name == "c1")
    assert (
        loaded.channel_counts == {"sms": 1} and loaded.created_at == AT and isinstance(loaded.pk, uuid.UUID)
    )
    loaded.name = "saved through the ORM"
    loaded.save()  # an instance from load_by is a normal, saved model instance
    assert Customer.objects.get(pk=loaded.pk).name == "saved through the ORM"
    assert backend().load_by(Customer, "id", []) == []


@postgresql_only
def test_database_errors_come_out_as_djangos_whichever_cursor_ran():
    row = _customer(name="once")
    backend().copy_rows(Customer, [row])
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        backend().copy_rows(Customer, [Customer(id=row.id, created_at=AT, name="again")])
    assert isinstance(raised.value.__cause__, psycopg.errors.UniqueViolation)
    assert Customer.objects.get(pk=row.id).name == "once"
