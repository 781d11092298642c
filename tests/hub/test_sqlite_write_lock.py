"""SQLite, the embedded default, has one write lock, which an offline rebuild holds for its whole length: a
writer that must not wait that long says how long it waits, and is told the database was busy."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import OperationalError, connection, transaction

from hub import log, subscriptions
from hub.models import Subscription
from hub.runner import Runner
from tests.conftest import requires_sqlite

pytestmark = [requires_sqlite, pytest.mark.django_db(transaction=True)]
WAIT = 60  # seconds a thread may take before the test calls it stuck (never a measure of speed)


@contextmanager
def database_held() -> Iterator[None]:
    """Another connection holds SQLite's one write lock, as an offline rebuild does."""
    holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def busy_timeout() -> int:
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        return cursor.fetchone()[0]


def test_a_transaction_waits_only_as_long_as_asked_then_is_told_the_database_is_busy():
    before = busy_timeout()

    with (
        database_held(),
        pytest.raises(OperationalError) as raised,
        log.waiting_at_most(100),
        transaction.atomic(),
    ):
        Subscription.objects.create(name="never")

    assert log.is_lock_timeout(raised.value)
    assert busy_timeout() == before  # the connection's own wait is back
    assert not Subscription.objects.filter(name="never").exists()


def test_a_runner_stopped_while_the_database_is_held_says_which_leases_it_could_not_give_back(settings):
    """It said its leases were released after logging that it could not release them; and it waited the
    busy timeout (20 s) for each."""
    settings.THREADLINE_SUBSCRIPTIONS_EAGER = False
    runner = Runner(["tally"], owner="r1")
    runner.poll = 60  # after its first pass it only waits: no pass meets the held database
    thread = threading.Thread(target=runner.run)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not Subscription.objects.filter(name="tally", lease_owner="r1").exists():
        assert time.monotonic() < deadline, "the runner never took its lease"
        time.sleep(0.05)

    with database_held():
        runner.stop()
        thread.join(WAIT)
        assert not thread.is_alive()

    assert runner.unreleased == ["tally"]
    assert Subscription.objects.get(name="tally").lease_owner == "r1"  # it expires in its time
    subscriptions.release("tally", "r1")


def test_an_offline_rebuild_finding_the_database_held_stops_at_once_saying_so():
    """SQLITE_BUSY counts as a lock timeout: the rebuild tried 120 times, each after the busy timeout (about
    40 minutes), where it used to stop after one."""
    from hub.rebuild import RebuildFailed, rebuild

    with database_held(), log.waiting_at_most(100), pytest.raises(RebuildFailed, match="stayed locked"):
        rebuild()
