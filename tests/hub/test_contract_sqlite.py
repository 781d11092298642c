"""The backend contract on SQLite: the ORM, and one writer at a time (IMMEDIATE transactions)."""

from __future__ import annotations

import sqlite3
import time

import pytest
from django.db import connection

from hub import log
from hub.backends.sqlite import SqliteBackend
from tests.conftest import requires_sqlite
from tests.hub import contract
from tests.hub.contract import KEYS, WAIT, Transaction

pytestmark = requires_sqlite


class OnSqlite:
    backend_class = SqliteBackend


class TestStore(OnSqlite, contract.StoreContract):
    pass


class TestBulk(OnSqlite, contract.BulkContract):
    pass


class TestLocks(OnSqlite, contract.LockContract):
    """SQLite keeps a second transaction out at BEGIN: IMMEDIATE takes the database's one write lock, so
    the second writer waits there until the first commits, and the kernel's own locks have nothing to add."""

    def watch(self, tx: Transaction) -> None:
        # SQLite calls this as each statement starts running, before it waits for a lock.
        connection.connection.set_trace_callback(tx.statements.append)

    def assert_waiting(self, tx: Transaction, *, namespace: int | None) -> None:
        deadline = time.monotonic() + WAIT
        while not tx.statements:
            if time.monotonic() > deadline:
                pytest.fail("the second transaction never began")
            time.sleep(0.01)
        assert tx.statements == ["BEGIN IMMEDIATE"], "the second transaction should have begun, and no more"
        assert tx.is_alive()
        assert write_lock_is_held(), "the first transaction should hold the write lock"

    def assert_kept_out_of_the_key(self, tx: Transaction, holder: Transaction) -> None:
        self.assert_waiting(tx, namespace=KEYS)

    def test_a_second_writer_waits_whatever_keys_it_locks(self):
        first = self.begin(lambda: log.lock_keys(KEYS, ["a"]), hold=True)
        second = self.begin(lambda: log.lock_keys(KEYS, ["b"]))

        self.assert_waiting(second, namespace=KEYS)
        first.release()

        first.outcome(), second.outcome()


def write_lock_is_held() -> bool:
    """Whether some connection holds the database's write lock: a connection of our own that will not wait
    is refused it."""
    probe = sqlite3.connect(connection.settings_dict["NAME"], timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        return "locked" in str(exc)
    else:
        probe.execute("ROLLBACK")
        return False
    finally:
        probe.close()


class TestPlacement(OnSqlite, contract.PlacementContract):
    pass


class TestConcurrentPlacement(OnSqlite, contract.ConcurrentPlacementContract):
    pass


class TestLaggingPlacement(OnSqlite, contract.LaggingPlacementContract):
    pass
