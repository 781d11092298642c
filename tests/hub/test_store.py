"""The log: append, idempotency, stream versions, reading in order, upcasting and append-only triggers."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from hub import log, store
from hub.errors import WrongExpectedVersion
from hub.events import NO_STREAM, NewEvent
from hub.models import StoredEvent
from hub.upcasting import register_upcaster, unregister_upcaster

pytestmark = pytest.mark.django_db


def new(event_id: str, *, stream: str = "s-1", source: str = "/test", **kwargs) -> NewEvent:
    return NewEvent(
        source=source, id=event_id, type="test.happened", stream=stream, data={"n": event_id}, **kwargs
    )


def test_append_assigns_increasing_positions_and_stream_versions():
    results = store.append([new("a"), new("b"), new("c", stream="s-2")])

    positions = [r.position for r in results]
    assert positions == sorted(positions) and len(set(positions)) == 3
    assert [r.event.stream_version for r in results] == [1, 2, 1]
    assert not any(r.duplicate for r in results)
    assert log.stream_version("s-1") == 2
    assert log.last_position() == positions[-1]


def test_duplicate_source_and_id_returns_original_position_and_writes_nothing():
    first = store.append([new("a")])[0]
    again = store.append(
        [NewEvent(source="/test", id="a", type="test.happened", stream="s-9", data={"x": 1})]
    )[0]

    assert again.duplicate is True
    assert again.position == first.position
    assert again.event.data == {"n": "a"}
    assert StoredEvent.objects.count() == 1


def test_same_id_from_another_source_is_a_different_event():
    store.append([new("a", source="/one")])
    second = store.append([new("a", source="/two")])[0]

    assert second.duplicate is False
    assert StoredEvent.objects.count() == 2


def test_duplicate_inside_one_append_is_written_once():
    results = store.append([new("a"), new("a")])

    assert [r.duplicate for r in results] == [False, True]
    assert results[0].position == results[1].position
    assert StoredEvent.objects.count() == 1


def test_expected_version_mismatch_raises_conflict_and_writes_nothing():
    store.append([new("a")])

    with pytest.raises(WrongExpectedVersion) as caught:
        store.append([new("b")], expected_versions={"s-1": 0})

    assert (caught.value.expected, caught.value.actual) == (0, 1)
    assert StoredEvent.objects.count() == 1


def test_expected_version_match_appends():
    store.append([new("a")], expected_versions={"s-1": NO_STREAM})
    result = store.append([new("b")], expected_versions={"s-1": 1})[0]

    assert result.event.stream_version == 2


def test_read_after_returns_events_in_position_order_and_honours_limit():
    results = store.append([new(str(i)) for i in range(5)])
    positions = [r.position for r in results]

    assert [e.position for e in log.read_after(0)] == positions
    assert [e.position for e in log.read_after(positions[1], limit=2)] == positions[2:4]
    assert log.read_after(positions[-1]) == []


def test_read_after_filters_by_source_prefix():
    store.append([new("a", source="/sms/1"), new("b", source="/chat/1"), new("c", source="/sms/2")])

    assert [e.id for e in log.read_after(0, source_prefix="/sms/")] == ["a", "c"]


def test_read_stream_returns_the_stream_in_version_order():
    store.append([new("a"), new("x", stream="other"), new("b")])

    assert [e.id for e in log.read_stream("s-1")] == ["a", "b"]
    assert [e.id for e in log.read_stream("s-1", after_version=1)] == ["b"]


def test_reading_an_old_schema_version_returns_it_upcast_to_the_current_shape():
    @register_upcaster("test.renamed", 1)
    def v1_to_v2(data):
        return {"full_name": data["name"]}

    @register_upcaster("test.renamed", 2)
    def v2_to_v3(data):
        return {**data, "language": "en"}

    try:
        store.append([NewEvent(source="/t", id="old", type="test.renamed", stream="s", data={"name": "Ada"})])
        event = log.read_after(0)[0]
    finally:
        unregister_upcaster("test.renamed", 1)
        unregister_upcaster("test.renamed", 2)

    assert event.schema_version == 3
    assert event.data == {"full_name": "Ada", "language": "en"}
    assert StoredEvent.objects.get().data == {"name": "Ada"}  # the stored row is untouched


def test_update_through_the_orm_is_refused_by_the_database():
    store.append([new("a")])

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        StoredEvent.objects.update(data={"tampered": True})

    assert StoredEvent.objects.get().data == {"n": "a"}


def test_delete_through_the_orm_is_refused_by_the_database():
    store.append([new("a")])

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        StoredEvent.objects.all().delete()

    assert StoredEvent.objects.count() == 1


@pytest.mark.parametrize(
    "sql",
    ["UPDATE hub_event SET type = 'tampered'", "DELETE FROM hub_event"],
    ids=["update", "delete"],
)
def test_raw_sql_update_and_delete_are_refused(sql):
    store.append([new("a")])

    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)

    assert StoredEvent.objects.filter(type="test.happened").count() == 1


def test_raw_sql_truncate_is_refused_on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("TRUNCATE exists only on PostgreSQL; SQLite's equivalent is DELETE, tested above")
    store.append([new("a")])

    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL threadline.allow_truncate = off")
        cursor.execute("TRUNCATE hub_event")

    assert StoredEvent.objects.count() == 1
