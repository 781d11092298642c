"""Concurrent requests about one customer are placed one after the other (PostgreSQL locks)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from interactions.ingestion.pipeline import events_ingest
from interactions.models import Customer, CustomerIdentifier, Role, Thread
from tests.conftest import cloud_event, requires_postgresql
from tests.factories import ApiTokenFactory

pytestmark = [requires_postgresql, pytest.mark.django_db(transaction=True)]


def run_concurrently(batches: list[list[dict]]) -> list[BaseException]:
    token = ApiTokenFactory(role=Role.ADMIN)
    start, errors = threading.Barrier(len(batches)), []

    def ingest(events):
        try:
            start.wait(10)
            events_ingest(events, token=token)
        except BaseException as exc:  # reported by the caller's assertion
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=ingest, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


def test_simultaneous_first_contacts_of_a_new_customer_make_one_customer_and_one_thread():
    batches = [[cloud_event(id=f"first-{i}", subject="tel:+15551234567")] for i in range(8)]

    assert run_concurrently(batches) == []
    assert Customer.objects.count() == 1
    assert Thread.objects.count() == 1
    assert Thread.objects.get().event_count == 8


def test_simultaneous_events_through_different_identifiers_of_one_customer_share_a_thread():
    run_concurrently(
        [
            [
                cloud_event(
                    id="seed",
                    subject="tel:+15551234567",
                    data={
                        "channel": "sms",
                        "text": "hi",
                        "identifiers": ["mailto:a@example.com", "chat:v-1"],
                    },
                )
            ]
        ]
    )
    subjects = ["tel:+15551234567", "mailto:a@example.com", "chat:v-1"] * 3

    assert run_concurrently([[cloud_event(id=f"x-{i}", subject=s)] for i, s in enumerate(subjects)]) == []
    assert Customer.objects.count() == 1
    assert Thread.objects.count() == 1
    assert CustomerIdentifier.objects.count() == 3


def test_concurrent_merges_leave_one_survivor_owning_every_identifier():
    run_concurrently([[cloud_event(id=f"c-{i}", subject=f"tel:+1555123000{i}")] for i in range(4)])
    assert Customer.objects.count() == 4
    links = [
        [
            cloud_event(
                id=f"link-{i}",
                subject=f"tel:+1555123000{i}",
                data={"channel": "sms", "text": "me", "identifiers": [f"tel:+1555123000{(i + 1) % 4}"]},
            )
        ]
        for i in range(4)
    ]

    assert run_concurrently(links) == []
    survivors = Customer.objects.filter(merged_into__isnull=True)
    assert survivors.count() == 1
    assert set(CustomerIdentifier.objects.values_list("customer_id", flat=True)) == {survivors.get().pk}
