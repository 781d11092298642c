"""The backend contract on PostgreSQL: advisory locks, binary arrays and COPY on Django's own connection."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from hub import log, store
from hub.backends import backend
from hub.backends.postgresql import APPEND_LOCK_KEY, PostgresqlBackend
from interactions.models import Customer
from tests.conftest import requires_postgresql
from tests.hub import contract
from tests.hub.contract import AT, KEYS, WAIT, Transaction, new, written

pytestmark = requires_postgresql


class OnPostgresql:
    backend_class = PostgresqlBackend


class TestStore(OnPostgresql, contract.StoreContract):
    def test_truncate_of_the_log_is_refused_by_the_database(self):
        store.append([new("a")])
        before = written()

        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("SET LOCAL threadline.allow_truncate = off")
            cursor.execute("TRUNCATE hub_event")

        assert written() == before


class TestBulk(OnPostgresql, contract.BulkContract):
    def test_errors_of_its_own_cursor_come_out_as_djangos_with_psycopgs_as_the_cause(self):
        row = Customer(id="00000000-0000-4000-8000-000000000001", created_at=AT, name="once")
        backend().copy_rows(Customer, [row])

        with pytest.raises(IntegrityError) as raised, transaction.atomic():
            backend().copy_rows(Customer, [Customer(id=row.id, created_at=AT, name="again")])

        assert isinstance(raised.value.__cause__, psycopg.errors.UniqueViolation)
        assert Customer.objects.get(pk=row.id).name == "once"


def advisory_locks(pid: int, *, granted: bool, namespace: int | None, key: str | None = None) -> int:
    """How many advisory locks the session `pid` holds (granted) or waits for, as pg_locks shows them: the
    append lock when `namespace` is None (one bigint key), else keys of that namespace (two int keys)."""
    sql = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = %s AND granted = %s"
    params: list = [pid, granted]
    if namespace is None:
        sql += " AND objsubid = 1 AND classid::bigint = %s AND objid::bigint = %s"
        params += [APPEND_LOCK_KEY >> 32, APPEND_LOCK_KEY & 0xFFFFFFFF]
    else:
        sql += " AND objsubid = 2 AND classid::bigint = %s"
        params.append(namespace)
        if key is not None:
            sql += " AND objid::bigint = hashtext(%s)::bigint & 4294967295"
            params.append(key)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


class TestLocks(OnPostgresql, contract.LockContract):
    """PostgreSQL keeps a second transaction out with transaction-scoped advisory locks: it waits on the
    same key (or is refused by try_lock_key), and transactions on other keys go ahead."""

    def watch(self, tx: Transaction) -> None:
        tx.pid = connection.connection.info.backend_pid

    def assert_waiting(self, tx: Transaction, *, namespace: int | None) -> None:
        deadline = time.monotonic() + WAIT
        while not advisory_locks(tx.pid, granted=False, namespace=namespace):
            if time.monotonic() > deadline:
                pytest.fail("the second transaction should queue on the lock in pg_locks")
            time.sleep(0.01)
        assert tx.is_alive()

    def assert_kept_out_of_the_key(self, tx: Transaction, holder: Transaction) -> None:
        assert tx.outcome() == (False, False)  # refused at once, while the holder held the key
        assert advisory_locks(holder.pid, granted=True, namespace=KEYS, key="k") == 1

    def test_transactions_locking_other_keys_go_ahead(self):
        first = self.begin(lambda: log.lock_keys(KEYS, ["a"]), hold=True)

        def others() -> bool:
            log.lock_keys(KEYS, ["b"])
            log.lock_keys(KEYS + 1, ["a"])  # the same key in another namespace is another lock
            return log.try_lock_key(KEYS, "c")

        assert self.begin(others).outcome() is True
        assert first.is_alive()  # still holding "a" all along
        assert advisory_locks(first.pid, granted=True, namespace=KEYS, key="a") == 1
        first.release()
        first.outcome()


class TestPlacement(OnPostgresql, contract.PlacementContract):
    pass


class TestConcurrentPlacement(OnPostgresql, contract.ConcurrentPlacementContract):
    pass


class TestLaggingPlacement(OnPostgresql, contract.LaggingPlacementContract):
    pass
