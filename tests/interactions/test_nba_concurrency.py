"""An agent's answer to a next best action, concurrent with a merge of its customer (PostgreSQL)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from hub import log
from interactions.locks import CUSTOMER_LOCKS
from interactions.models import Role
from interactions.nba.services import nba_answer
from interactions.placement.models import PlacedCustomer
from tests.conftest import requires_postgresql
from tests.factories import ApiTokenFactory
from tests.interactions.helpers import post

pytestmark = [requires_postgresql, pytest.mark.django_db(transaction=True)]
RULE = "apologise-for-bad-rating"


def lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def test_an_answer_waits_for_a_merge_of_its_customer_and_is_recorded_on_the_survivor(api):
    # It looked the survivor up without the customer's lock: a merge committing meanwhile left the answer on
    # the merged-away customer.
    merged = post(api, subject="tel:+15550000001")["customer_id"]
    survivor = post(api, subject="tel:+15550000002")["customer_id"]
    agent = ApiTokenFactory(role=Role.AGENT)
    locked, release, answered = threading.Event(), threading.Event(), []

    def merge() -> None:  # as placement does: under the customer's lock
        with transaction.atomic():
            log.lock_keys(CUSTOMER_LOCKS, [merged])
            PlacedCustomer.objects.filter(pk=merged).update(merged_into=survivor)
            locked.set()
            release.wait(30)
        connection.close()

    def answer() -> None:
        answered.append(nba_answer(customer_id=merged, rule_id=RULE, outcome="taken", actor=agent))
        connection.close()

    merging = threading.Thread(target=merge)
    merging.start()
    assert locked.wait(10)
    answering = threading.Thread(target=answer)
    answering.start()
    try:
        deadline = time.monotonic() + 10
        while lock_waiters() == 0 and time.monotonic() < deadline and answering.is_alive():
            time.sleep(0.02)
    finally:
        release.set()
        merging.join(30)
        answering.join(30)

    (event,) = answered
    assert event.data["customer_id"] == survivor and event.metadata["customer_id"] == survivor
