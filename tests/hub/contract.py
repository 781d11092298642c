"""The contract every database backend of the kernel meets, written once and run against each.

As pyeventsourcing's `eventsourcing/tests/persistence.py`: base cases here, one subclass per backend in
`test_contract_sqlite.py` and `test_contract_postgresql.py`, each skipped when the configured database is the
other one. The classes here are not collected by themselves (their names do not start with `Test`).

Everything goes through the public surface: `hub.store.append`, `hub.log.*`, `hub.backends.backend()` and,
for placement, `interactions.ingestion.pipeline.events_ingest`. Where the two databases legitimately differ
(how a second transaction is kept out), the base case states what both guarantee and calls a hook that
each subclass implements to show, from the database itself and not from timing, how its backend does it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from hub import log, store
from hub.backends import Backend, backend
from hub.errors import WrongExpectedVersion
from hub.events import NO_STREAM, NewEvent
from hub.models import StoredEvent
from interactions.errors import InvalidEvents
from interactions.ingestion.pipeline import events_ingest
from interactions.models import Customer, CustomerIdentifier, Role, Thread
from interactions.placement.models import PlacedCustomer, PlacedIdentifier
from tests.conftest import cloud_event
from tests.factories import ApiTokenFactory

AT = datetime(2026, 11, 28, 9, 30, 15, 123456, tzinfo=UTC)
# The most a concurrency test waits for a thread to reach a point it must reach: a bound, not a delay.
WAIT = 20.0
# The lock namespace of these tests, apart from the domain's (interactions.locks).
KEYS = 9001


def new(event_id: str, *, stream: str = "s-1", source: str = "/test", **fields: Any) -> NewEvent:
    fields.setdefault("type", "test.happened")
    fields.setdefault("data", {"n": event_id})
    return NewEvent(source=source, id=event_id, stream=stream, **fields)


def written() -> list[tuple]:
    """Everything in the log, to show that a refused append wrote nothing."""
    return list(StoredEvent.objects.values_list("position", "source", "event_id", "stream", "stream_version"))


class Contract:
    """What every contract class shares: the backend it must be talking to."""

    backend_class: type[Backend]

    @pytest.fixture(autouse=True)
    def _talks_to_its_backend(self) -> None:
        # Every test of a subclass runs against the backend the subclass names, or fails.
        assert isinstance(backend(), self.backend_class), (backend(), self.backend_class)


# --- appending and reading ----------------------------------------------------------------------------------


@pytest.mark.django_db
class StoreContract(Contract):
    """Append (positions, stream versions, duplicates, expected versions) and the reads of the log."""

    def test_backend_is_the_implementation_for_the_connection_in_use(self):
        db = backend()
        assert isinstance(db, self.backend_class)
        assert db.vendor == connection.vendor
        assert backend() is db

    def test_positions_increase_and_stream_versions_count_per_stream(self):
        results = store.append([new("a"), new("b"), new("c", stream="s-2")])
        later = store.append([new("d", stream="s-2")])[0]

        positions = [r.position for r in [*results, later]]
        assert positions == sorted(positions) and len(set(positions)) == 4
        assert [r.event.stream_version for r in [*results, later]] == [1, 2, 1, 2]
        assert not any(r.duplicate for r in [*results, later])
        assert (log.stream_version("s-1"), log.stream_version("s-2")) == (2, 2)
        assert log.last_position() == later.position

    def test_empty_log_and_unknown_stream_are_at_zero(self):
        assert log.last_position() == 0
        assert log.stream_version("nobody") == NO_STREAM
        assert log.read_after(0) == []
        assert log.read_stream("nobody") == []

    def test_appending_nothing_writes_nothing(self):
        assert store.append([]) == []
        assert written() == []

    def test_the_append_returns_the_events_as_the_log_reads_them_back(self):
        results = store.append([new("a"), new("b", stream="s-2")])

        assert [r.event for r in results] == log.read_after(0)
        assert [results[0].event] == log.read_stream("s-1")

    def test_duplicate_in_the_log_returns_the_original_and_writes_nothing(self):
        first = store.append([new("a")])[0]
        before = written()

        again = store.append([new("a", stream="s-9", type="test.other", data={"x": 1})])[0]

        assert again.duplicate is True
        assert again.event == first.event  # the original: its position, stream and data
        assert written() == before

    def test_duplicate_twice_in_one_append_is_written_once(self):
        results = store.append([new("a"), new("b"), new("a", data={"second": True})])

        assert [r.duplicate for r in results] == [False, False, True]
        assert results[2].event == results[0].event
        assert [(e.id, e.stream_version) for e in log.read_after(0)] == [("a", 1), ("b", 2)]

    def test_an_append_mixing_duplicates_and_new_events_writes_only_the_new_ones(self):
        original = store.append([new("a")])[0]

        results = store.append([new("b"), new("a"), new("c")])

        assert [r.duplicate for r in results] == [False, True, False]
        assert results[1].event == original.event
        assert [(e.id, e.stream_version) for e in log.read_after(0)] == [("a", 1), ("b", 2), ("c", 3)]

    def test_the_same_id_from_another_source_is_another_event(self):
        store.append([new("a", source="/one")])
        second = store.append([new("a", source="/two")])[0]

        assert second.duplicate is False
        assert [(e.source, e.id) for e in log.read_after(0)] == [("/one", "a"), ("/two", "a")]

    def test_expected_version_zero_means_the_stream_must_not_exist(self):
        created = store.append([new("a")], expected_versions={"s-1": NO_STREAM})[0]
        before = written()

        with pytest.raises(WrongExpectedVersion) as caught:
            store.append([new("b")], expected_versions={"s-1": NO_STREAM})

        assert created.event.stream_version == 1
        assert (caught.value.stream, caught.value.expected, caught.value.actual) == ("s-1", 0, 1)
        assert written() == before

    def test_expected_version_that_matches_appends(self):
        store.append([new("a"), new("b")])

        result = store.append([new("c")], expected_versions={"s-1": 2})[0]

        assert result.event.stream_version == 3

    def test_expected_version_mismatch_raises_and_writes_nothing_of_the_whole_append(self):
        store.append([new("a"), new("x", stream="s-2")])
        before = written()

        with pytest.raises(WrongExpectedVersion) as caught:
            store.append([new("b"), new("y", stream="s-2")], expected_versions={"s-1": 1, "s-2": 5})

        assert (caught.value.stream, caught.value.expected, caught.value.actual) == ("s-2", 5, 1)
        assert written() == before

    def test_expected_version_of_a_stream_the_append_does_not_write_is_checked_too(self):
        store.append([new("a", stream="guard")])

        with pytest.raises(WrongExpectedVersion):
            store.append([new("b")], expected_versions={"guard": NO_STREAM})
        result = store.append([new("c")], expected_versions={"guard": 1})[0]

        assert (result.event.stream, result.event.stream_version) == ("s-1", 1)

    def test_read_after_returns_events_in_position_order_and_honours_limit(self):
        positions = [r.position for r in store.append([new(str(i), stream=f"s-{i % 2}") for i in range(5)])]

        assert [e.position for e in log.read_after(0)] == positions
        assert [e.position for e in log.read_after(0, limit=2)] == positions[:2]
        assert [e.position for e in log.read_after(positions[1], limit=2)] == positions[2:4]
        assert log.read_after(positions[-1]) == []

    def test_read_after_filters_by_type(self):
        store.append([new("a"), new("b", type="test.other"), new("c"), new("d", type="test.third")])

        assert [e.id for e in log.read_after(0, types=["test.happened"])] == ["a", "c"]
        assert [e.id for e in log.read_after(0, types={"test.other", "test.third"})] == ["b", "d"]
        assert log.read_after(0, types=[]) == []

    def test_read_after_filters_by_source_prefix_exactly(self):
        store.append(
            [
                new("a", source="/sms/1"),
                new("b", source="/chat/1"),
                new("c", source="/sms/2"),
                new("d", source="/SMS/3"),  # sources are URIs: the prefix is case-sensitive
                new("e", source="/smsx/4"),
                new("f", source="/a_b/1"),
                new("g", source="/axb/1"),  # `_` and `%` are characters, not patterns
                new("h", source="/a%b/1"),
            ]
        )

        assert [e.id for e in log.read_after(0, source_prefix="/sms/")] == ["a", "c"]
        assert [e.id for e in log.read_after(0, source_prefix="/a_b/")] == ["f"]
        assert [e.id for e in log.read_after(0, source_prefix="/a%")] == ["h"]

    def test_read_after_combines_filters_and_pages_by_position(self):
        results = store.append(
            [
                new("a", source="/sms/1"),
                new("b", source="/sms/1", type="test.other"),
                new("c", source="/chat/1"),
                new("d", source="/sms/2"),
                new("e", source="/sms/2"),
            ]
        )

        page = log.read_after(0, types=["test.happened"], source_prefix="/sms/", limit=2)
        rest = log.read_after(page[-1].position, types=["test.happened"], source_prefix="/sms/")

        assert [e.id for e in page] == ["a", "d"]
        assert [e.id for e in rest] == ["e"]
        assert rest[0].position == results[-1].position

    def test_read_stream_returns_the_stream_in_version_order(self):
        store.append([new("a"), new("x", stream="other"), new("b"), new("c")])

        assert [e.id for e in log.read_stream("s-1")] == ["a", "b", "c"]
        assert [e.id for e in log.read_stream("s-1", after_version=1)] == ["b", "c"]
        assert [e.id for e in log.read_stream("s-1", after_version=1, limit=1)] == ["b"]
        assert [(e.stream_version, e.id) for e in log.read_stream("other")] == [(1, "x")]

    def test_last_events_gives_each_streams_last_event_and_leaves_out_the_empty_ones(self, monkeypatch):
        store.append([new("a"), new("x", stream="other"), new("b")])
        store.append([new("y", stream="other"), new("z", stream="third")])

        last = log.last_events(["s-1", "other", "nobody", "s-1"])

        assert {stream: (e.stream_version, e.id) for stream, e in last.items()} == {
            "s-1": (2, "b"),
            "other": (2, "y"),
        }
        with CaptureQueriesContext(connection) as queries:  # each stream's own last row, by one query
            log.last_events(["s-1", "other", "third"])
        assert len(queries) == 1
        monkeypatch.setattr(log, "_CHUNK", 1)  # one stream a chunk: the same answer
        assert {s: e.id for s, e in log.last_events(["s-1", "other", "third"]).items()} == {
            "s-1": "b",
            "other": "y",
            "third": "z",
        }
        assert log.last_events([]) == {}

    def test_last_position_is_the_highest_position(self):
        store.append([new("a"), new("b")])
        last = store.append([new("c", stream="s-2")])[0]

        assert log.last_position() == last.position
        store.append([new("c", stream="s-2")])  # a duplicate moves nothing
        assert log.last_position() == last.position

    def test_existing_finds_exactly_the_pairs_already_in_the_log(self):
        a1, b2 = store.append([new("1", source="/a"), new("2", source="/b")])

        found = log.existing([("/a", "1"), ("/b", "2"), ("/a", "2"), ("/b", "1"), ("/c", "3")])

        assert found == {("/a", "1"): a1.event, ("/b", "2"): b2.event}  # no crossed pairs
        assert log.existing([]) == {}
        assert log.existing([("/c", "3")]) == {}

    def test_json_data_and_metadata_round_trip(self):
        data = {
            "text": 'Grüße, 你好 ✓ "quoted" \\ back',
            "nothing": None,
            "flags": [True, False],
            "numbers": [0, -1, 2.5, 2**53 + 1],
            "nested": {"empty": {}, "list": [], "deep": [{"a": [1, {"b": None}]}]},
        }
        metadata = {"customer_id": str(uuid.uuid4()), "extensions": {"traceparent": "00-abc"}}
        result = store.append([new("a", data=data, metadata=metadata, subject="tel:+1555")])[0]

        for event in [result.event, log.read_after(0)[0], log.read_stream("s-1")[0]]:
            assert (event.data, event.metadata, event.subject) == (data, metadata, "tel:+1555")

    def test_times_are_aware_and_read_back_in_utc(self):
        in_paris = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
        before = datetime.now(UTC)
        store.append([new("a", occurred_at=in_paris), new("b")])
        after = datetime.now(UTC)

        a, b = log.read_after(0)
        assert a.occurred_at == in_paris and a.occurred_at.utcoffset() == timedelta(0)
        assert before <= b.occurred_at <= after  # no time given: the time of the append
        assert b.occurred_at == b.recorded_at == a.recorded_at
        assert all(e.recorded_at.utcoffset() == timedelta(0) for e in (a, b))

    def test_update_and_delete_of_the_log_are_refused_by_the_database(self):
        store.append([new("a")])
        before = written()

        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            StoredEvent.objects.update(data={"tampered": True})
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            StoredEvent.objects.all().delete()
        for sql in ["UPDATE hub_event SET type = 'tampered'", "DELETE FROM hub_event"]:
            with (
                pytest.raises(DatabaseError, match="append-only"),
                transaction.atomic(),
                connection.cursor() as cursor,
            ):
                cursor.execute(sql)

        assert written() == before
        assert log.read_after(0)[0].data == {"n": "a"}


# --- bulk statements for read models ------------------------------------------------------------------------


def _customer(**fields: Any) -> Customer:
    return Customer(id=str(uuid.uuid4()), created_at=AT, **fields)  # ids arrive as text from event data


@pytest.mark.django_db
class BulkContract(Contract):
    """load_by, copy_rows, copy_values and update_rows write and read rows as the ORM would."""

    def test_copy_then_update_rows_round_trip_through_the_orm(self):
        first = _customer(name="Ada", preferences={"channel": "sms"})
        second = _customer(birthday=date(1990, 1, 2), first_contact_at=AT)
        backend().copy_rows(Customer, [first, second])
        thread = Thread(
            id=uuid.uuid4(), customer_id=first.id, opened_at=AT, last_activity_at=AT, channels=["sms"]
        )
        backend().copy_rows(Thread, [thread])

        first.name, first.preferences, first.merged_into_id = (
            "Ada L.",
            {"channel": "email", "n": [1, 2], "none": None},
            second.id,
        )
        second.birthday, second.first_contact_at, second.consent = None, None, {"sms": False}
        backend().update_rows(
            Customer,
            [first, second],
            ["name", "preferences", "merged_into", "birthday", "first_contact_at", "consent"],
        )
        thread.customer_id, thread.channels, thread.event_count = uuid.UUID(second.id), ["sms", "voice"], 7
        backend().update_rows(Thread, [thread], ["customer", "channels", "event_count"])

        a, b = Customer.objects.get(pk=first.id), Customer.objects.get(pk=second.id)
        assert (a.name, a.preferences, a.merged_into_id) == (
            "Ada L.",
            {"channel": "email", "n": [1, 2], "none": None},
            b.pk,
        )
        assert (b.birthday, b.first_contact_at, b.consent, b.name) == (None, None, {"sms": False}, "")
        stored = Thread.objects.get(pk=thread.id)
        assert (stored.customer_id, stored.channels, stored.event_count) == (b.pk, ["sms", "voice"], 7)
        assert stored.opened_at == AT and stored.opened_at.utcoffset() == timedelta(0)

    def test_update_rows_leaves_other_rows_and_fields_alone(self):
        kept, changed = _customer(name="Kept", segment="gold"), _customer(name="Old", segment="silver")
        backend().copy_rows(Customer, [kept, changed])

        changed.name, changed.segment = "New", "ignored: not a listed field"
        backend().update_rows(Customer, [changed], ["name"])
        backend().update_rows(Customer, [], ["name"])

        rows = Customer.objects.values_list("id", "name", "segment")
        assert {str(pk): (name, segment) for pk, name, segment in rows} == {
            changed.id: ("New", "silver"),
            kept.id: ("Kept", "gold"),
        }

    def test_copy_values_takes_values_in_the_order_of_the_concrete_fields(self):
        customer_id = uuid.uuid4()
        in_tokyo = datetime(2026, 11, 28, 18, 30, tzinfo=timezone(timedelta(hours=9)))
        names = [f.attname for f in Customer._meta.concrete_fields]
        values = {
            "id": str(customer_id), "created_at": in_tokyo, "merged_into_id": None, "name": "Grace",
            "language": "en", "timezone": "Asia/Tokyo", "segment": "", "birthday": date(1906, 12, 9),
            "preferences": {"channel": ["sms", None]}, "consent": {}, "stated_at": {},
            "channel_counts": {"sms": 3},
            "first_contact_at": None, "last_contact_at": AT, "surveys": {"csat": [{"score": 4}]},
        }  # fmt: skip
        assert set(values) == set(names)

        backend().copy_values(Customer, [[values[n] for n in names]])
        backend().copy_values(Customer, [])

        stored = Customer.objects.get(pk=customer_id)
        assert stored.created_at == in_tokyo and stored.created_at.utcoffset() == timedelta(0)
        assert (stored.name, stored.birthday, stored.merged_into_id, stored.first_contact_at) == (
            "Grace",
            date(1906, 12, 9),
            None,
            None,
        )
        assert (stored.preferences, stored.channel_counts, stored.surveys) == (
            {"channel": ["sms", None]},
            {"sms": 3},
            {"csat": [{"score": 4}]},
        )

    def test_load_by_finds_rows_by_keys_given_as_text_or_uuid_and_types_their_values(self):
        rows = [_customer(name=f"c{i}", channel_counts={"sms": i}) for i in range(3)]
        backend().copy_rows(Customer, rows)

        found = backend().load_by(
            Customer, "id", [rows[0].id, uuid.UUID(rows[1].id), rows[1].id, str(uuid.uuid4())]
        )

        assert sorted(c.name for c in found) == ["c0", "c1"]  # each row once, unknown keys ignored
        loaded = next(c for c in found if c.name == "c1")
        assert loaded.channel_counts == {"sms": 1} and isinstance(loaded.pk, uuid.UUID)
        assert loaded.created_at == AT and loaded.created_at.utcoffset() == timedelta(0)
        assert loaded.merged_into_id is None and loaded.birthday is None
        loaded.name = "saved through the ORM"
        loaded.save()  # an instance from load_by is a normal, saved model instance
        assert Customer.objects.get(pk=loaded.pk).name == "saved through the ORM"
        assert backend().load_by(Customer, "id", []) == []

    def test_load_by_with_fields_returns_typed_tuples_in_the_order_asked(self):
        customer = _customer(preferences={"channel": "sms"}, birthday=date(1990, 1, 2))
        backend().copy_rows(Customer, [customer])
        backend().copy_rows(
            CustomerIdentifier,
            [
                CustomerIdentifier(uri=uri, kind=uri.split(":")[0], customer_id=customer.id, added_at=AT)
                for uri in ["tel:+15551234567", "mailto:a@example.com"]
            ],
        )

        pairs = backend().load_by(
            CustomerIdentifier, "uri", ["tel:+15551234567", "chat:nobody"], fields=["customer_id", "uri"]
        )
        values = backend().load_by(
            Customer, "id", [customer.id], fields=["birthday", "preferences", "created_at", "id"]
        )

        assert [tuple(p) for p in pairs] == [(uuid.UUID(customer.id), "tel:+15551234567")]
        assert [tuple(v) for v in values] == [
            (date(1990, 1, 2), {"channel": "sms"}, AT, uuid.UUID(customer.id))
        ]
        assert values[0][2].utcoffset() == timedelta(0)

    def test_load_by_keeps_only_the_rows_matching_where(self):
        customers = [_customer(), _customer()]
        backend().copy_rows(Customer, customers)
        threads = [
            Thread(id=uuid.uuid4(), customer_id=c.id, status=status, opened_at=AT, last_activity_at=at)
            for c in customers
            for status, at in [("open", AT), ("resolved", AT), ("open", AT - timedelta(days=3))]
        ]
        backend().copy_rows(Thread, threads)
        recent = Q(status="open", last_activity_at__gte=AT - timedelta(hours=1))

        found = backend().load_by(
            Thread, "customer_id", [customers[0].id, uuid.UUID(customers[1].id)], fields=["id"], where=recent
        )
        only_first = backend().load_by(Thread, "customer_id", [customers[0].id], where=recent)

        assert sorted(row[0] for row in found) == sorted([threads[0].id, threads[3].id])
        assert [t.pk for t in only_first] == [threads[0].id]

    def test_a_duplicate_key_is_djangos_integrity_error_and_writes_nothing(self):
        row = _customer(name="once")
        backend().copy_rows(Customer, [row])

        with pytest.raises(IntegrityError), transaction.atomic():
            backend().copy_rows(Customer, [_customer(name="new"), Customer(id=row.id, created_at=AT)])

        assert list(Customer.objects.values_list("name", flat=True)) == ["once"]


# --- locks: a second transaction is kept out ----------------------------------------------------------------


class Transaction(threading.Thread):
    """`work` inside `transaction.atomic()` on a connection of its own (Django gives each thread one).

    With `hold`, the transaction stays open after `work` until `release()`: the first of two transactions.
    """

    def __init__(self, work: Callable[[], Any], *, hold: bool, watch: Callable[[Transaction], None]) -> None:
        super().__init__(daemon=True)
        self.work, self.hold, self.watch = work, hold, watch
        self.holding = threading.Event()
        self._release = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.pid: int | None = None  # PostgreSQL: its server process, to find it in pg_locks
        self.statements: list[str] = []  # SQLite: the statements it has begun

    def run(self) -> None:
        try:
            connection.ensure_connection()
            self.watch(self)
            with transaction.atomic():
                self.result = self.work()
                if self.hold:
                    self.holding.set()
                    if not self._release.wait(WAIT):
                        raise TimeoutError("the test never released this transaction")
        except BaseException as exc:  # raised in the test's thread by outcome()
            self.error = exc
        finally:
            self.holding.set()
            connection.close()

    def release(self) -> None:
        self._release.set()

    def outcome(self) -> Any:
        """Wait for the transaction to end: its result, or its error raised here."""
        self.join(WAIT)
        assert not self.is_alive(), "the transaction never ended"
        if self.error is not None:
            raise self.error
        return self.result


@pytest.mark.django_db(transaction=True)
class LockContract(Contract):
    """append_lock, lock_keys and try_lock_key: what a second transaction sees while a first one holds.

    Both backends guarantee that two transactions never both hold the same lock and that the second one
    proceeds once the first has committed. PostgreSQL does it with transaction-scoped advisory locks (a
    second transaction waits on the same key or is refused by try_lock_key; other keys go ahead); SQLite
    with its one write lock, taken at BEGIN by IMMEDIATE transactions (a second writer waits to begin,
    whatever its keys).
    """

    # --- what each backend shows from its database ---

    def watch(self, tx: Transaction) -> None:
        """Prepare to observe `tx` from the database (called in its thread, on its connection)."""
        raise NotImplementedError

    def assert_waiting(self, tx: Transaction, *, namespace: int | None) -> None:
        """`tx` is blocked behind the first transaction right now (on the append lock when `namespace` is
        None, else on keys of that namespace), as the database shows it."""
        raise NotImplementedError

    def assert_kept_out_of_the_key(self, tx: Transaction, holder: Transaction) -> None:
        """`tx`, calling try_lock_key on the key `holder` holds, does not get it while `holder` holds it."""
        raise NotImplementedError

    # --- helpers ---

    def begin(self, work: Callable[[], Any], *, hold: bool = False) -> Transaction:
        tx = Transaction(work, hold=hold, watch=self.watch)
        tx.start()
        if hold:
            assert tx.holding.wait(WAIT), "the first transaction never got its lock"
            if tx.error is not None:
                raise tx.error
        return tx

    # --- the expectations ---

    def test_a_second_writer_waits_for_the_first_to_commit_and_appends_after_it(self):
        first = self.begin(lambda: store.append([new("first", stream="s")])[0], hold=True)
        second = self.begin(lambda: store.append([new("second", stream="s")])[0])

        self.assert_waiting(second, namespace=None)
        assert log.read_after(0) == []  # the first's position is taken, not yet visible
        first.release()

        one, two = first.outcome(), second.outcome()
        assert (one.event.stream_version, two.event.stream_version) == (1, 2)
        assert one.position < two.position
        assert [e.id for e in log.read_after(0)] == ["first", "second"]

    def test_a_transaction_locking_keys_another_holds_waits_so_decide_then_append_never_conflicts(self):
        def decide_and_append(event_id: str) -> Callable[[], Any]:
            def work() -> Any:
                log.lock_keys(KEYS, ["k", "other"])
                version = log.stream_version("k")  # decided from state the key protects
                return store.append([new(event_id, stream="k")], expected_versions={"k": version})[0]

            return work

        first = self.begin(decide_and_append("first"), hold=True)
        second = self.begin(decide_and_append("second"))

        self.assert_waiting(second, namespace=KEYS)
        first.release()

        assert first.outcome().event.stream_version == 1
        assert second.outcome().event.stream_version == 2  # it read the stream after the first committed

    def test_try_lock_key_is_never_held_by_two_transactions_at_once(self):
        releasing = threading.Event()
        holder = self.begin(lambda: log.try_lock_key(KEYS, "k"), hold=True)

        def contend() -> tuple[bool, bool]:
            got = log.try_lock_key(KEYS, "k")
            return got, releasing.is_set()

        contender = self.begin(contend)
        self.assert_kept_out_of_the_key(contender, holder)
        releasing.set()
        holder.release()

        assert holder.outcome() is True
        got, after_release = contender.outcome()
        assert not got or after_release  # it never had the key while the holder did
        assert self.begin(lambda: log.try_lock_key(KEYS, "k")).outcome() is True  # free once it ended

    def test_locks_taken_again_in_the_same_transaction_do_not_block_it(self):
        def twice() -> tuple[bool, bool]:
            log.append_lock()
            log.lock_keys(KEYS, ["a", "b"])
            first = log.try_lock_key(KEYS, "c")
            log.append_lock()
            log.lock_keys(KEYS, ["b", "a"])
            log.lock_keys(KEYS, [])
            store.append([new("a")])
            return first, log.try_lock_key(KEYS, "c")

        assert self.begin(twice).outcome() == (True, True)
        assert [e.id for e in log.read_after(0)] == ["a"]


# --- placement ----------------------------------------------------------------------------------------------


def ingest(*events: dict[str, Any]) -> list[dict[str, Any]]:
    token = ApiTokenFactory(role=Role.ADMIN)
    return [e.as_dict() for e in events_ingest(list(events), token=token)]


def _sms(subject: str, time: str, **data: Any) -> dict[str, Any]:
    return cloud_event(subject=subject, time=time, data={"channel": "sms", "text": "hi", **data})


@pytest.mark.django_db
class PlacementContract(Contract):
    """Which customer and thread an event belongs to, decided the same way on both databases."""

    def test_the_same_identifier_twice_makes_one_customer(self):
        first = ingest(_sms("tel:+15551234567", "2026-11-23T09:00:00Z"))[0]
        again = ingest(_sms("tel:+15551234567", "2026-11-23T09:05:00Z"))[0]

        assert again["customer_id"] == first["customer_id"]
        assert again["thread_id"] == first["thread_id"]
        assert Customer.objects.count() == 1
        assert list(CustomerIdentifier.objects.values_list("uri", flat=True)) == ["tel:+15551234567"]
        assert [e.type for e in log.read_after(0, types=["customer.created"])] == ["customer.created"]

    def test_the_same_identifier_twice_in_one_request_makes_one_customer(self):
        results = ingest(
            _sms("tel:+15551234567", "2026-11-23T09:00:00Z"),
            _sms("tel:+15551234567", "2026-11-23T09:01:00Z"),
        )

        assert results[0]["customer_id"] == results[1]["customer_id"]
        assert Customer.objects.count() == 1 and Thread.objects.count() == 1

    def test_an_event_naming_another_customers_thread_is_refused_and_writes_nothing(self):
        theirs = ingest(_sms("mailto:bob@example.com", "2026-11-23T09:00:00Z"))[0]
        before = written()

        with pytest.raises(InvalidEvents) as refused:
            ingest(_sms("tel:+15551234567", "2026-11-23T09:05:00Z", thread_id=theirs["thread_id"]))

        assert refused.value.errors[0]["field"] == "data.thread_id"
        assert "another customer" in refused.value.errors[0]["message"]
        assert written() == before
        assert Customer.objects.count() == 1

    def test_identifiers_of_two_customers_in_one_event_merge_them_into_the_older(self):
        older = ingest(_sms("tel:+15551234567", "2026-11-23T09:00:00Z"))[0]
        newer = ingest(_sms("mailto:jane@example.com", "2026-11-23T09:05:00Z"))[0]
        assert older["customer_id"] != newer["customer_id"]

        # Named by the newer customer's identifier first: the survivor is the older customer all the same.
        link = ingest(
            _sms("mailto:jane@example.com", "2026-11-23T09:10:00Z", identifiers=["tel:+15551234567"])
        )[0]

        survivor = older["customer_id"]
        assert link["customer_id"] == survivor
        merges = log.read_after(0, types=["customer.merged"])
        assert [e.data for e in merges] == [{"survivor_id": survivor, "merged_id": newer["customer_id"]}]
        assert str(Customer.objects.get(pk=newer["customer_id"]).merged_into_id) == survivor
        assert {str(c) for c in CustomerIdentifier.objects.values_list("customer_id", flat=True)} == {
            survivor
        }


def run_concurrently(batches: list[list[dict[str, Any]]]) -> list[BaseException]:
    """Ingest each batch from a thread (and connection) of its own, all released together."""
    token = ApiTokenFactory(role=Role.ADMIN)
    start, errors = threading.Barrier(len(batches)), []

    def one(events: list[dict[str, Any]]) -> None:
        try:
            start.wait(WAIT)
            events_ingest(events, token=token)
        except BaseException as exc:  # reported by the caller's assertion
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


@pytest.mark.django_db(transaction=True)
class ConcurrentPlacementContract(Contract):
    """Requests about one customer arriving together are placed one after the other (PostgreSQL: keyed
    locks; SQLite: one writer at a time), so concurrency never splits or duplicates a customer."""

    def test_simultaneous_first_contacts_of_a_new_customer_make_one_customer_and_one_thread(self):
        batches = [[cloud_event(id=f"first-{i}", subject="tel:+15551234567")] for i in range(8)]

        assert run_concurrently(batches) == []
        assert Customer.objects.count() == 1
        assert Thread.objects.count() == 1
        assert Thread.objects.get().event_count == 8

    def test_simultaneous_events_through_different_identifiers_of_one_customer_share_a_thread(self):
        seed = cloud_event(
            id="seed",
            subject="tel:+15551234567",
            data={"channel": "sms", "text": "hi", "identifiers": ["mailto:a@example.com", "chat:v-1"]},
        )
        assert run_concurrently([[seed]]) == []
        subjects = ["tel:+15551234567", "mailto:a@example.com", "chat:v-1"] * 3

        assert run_concurrently([[cloud_event(id=f"x-{i}", subject=s)] for i, s in enumerate(subjects)]) == []
        assert Customer.objects.count() == 1
        assert Thread.objects.count() == 1
        assert CustomerIdentifier.objects.count() == 3

    def test_concurrent_merges_leave_one_survivor_owning_every_identifier(self):
        firsts = [
            [cloud_event(id=f"c-{i}", subject=f"tel:+1555123000{i}", time=f"2026-11-23T09:0{i}:00Z")]
            for i in range(4)
        ]
        assert run_concurrently(firsts) == []
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
        assert list(survivors.values_list("created_at", flat=True)) == [
            datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # the oldest of the four
        ]
        assert set(CustomerIdentifier.objects.values_list("customer_id", flat=True)) == {survivors.get().pk}


@pytest.mark.django_db(transaction=True)
class LaggingPlacementContract(Contract):
    """Placement decides from its own write model, kept in the append's transaction: with no runner applying
    the read models at all, concurrent first contacts still make one customer, and merges still hold."""

    @pytest.fixture(autouse=True)
    def _read_models_lag(self, settings):
        settings.THREADLINE_SUBSCRIPTIONS_EAGER = False  # and no runner: the read models stay empty

    def test_concurrent_first_contacts_make_one_customer_while_the_read_models_are_empty(self):
        batches = [[cloud_event(id=f"lag-{i}", subject="tel:+15551234567")] for i in range(8)]

        assert run_concurrently(batches) == []
        assert Customer.objects.count() == 0 and Thread.objects.count() == 0  # nothing applied them
        assert len(log.read_after(0, types=["customer.created"])) == 1
        assert len(log.read_after(0, types=["thread.opened"])) == 1
        assert (
            PlacedIdentifier.objects.get(uri="tel:+15551234567").customer_id
            == PlacedCustomer.objects.get().id
        )
        customers = {e.metadata["customer_id"] for e in log.read_after(0, types=["message.received"])}
        threads = {e.metadata["thread_id"] for e in log.read_after(0, types=["message.received"])}
        assert len(customers) == len(threads) == 1

    def test_merges_hold_while_the_read_models_are_empty(self):
        older = ingest(_sms("tel:+15551234567", "2026-11-23T09:00:00Z"))[0]
        newer = ingest(_sms("mailto:jane@example.com", "2026-11-23T09:05:00Z"))[0]
        ingest(_sms("mailto:jane@example.com", "2026-11-23T09:10:00Z", identifiers=["tel:+15551234567"]))

        after = ingest(_sms("mailto:jane@example.com", "2026-11-23T09:15:00Z"))[0]

        assert after["customer_id"] == older["customer_id"]
        assert str(PlacedCustomer.objects.get(pk=newer["customer_id"]).merged_into) == older["customer_id"]
        assert {str(c) for c in PlacedIdentifier.objects.values_list("customer_id", flat=True)} == {
            older["customer_id"]
        }
        assert Customer.objects.count() == 0
