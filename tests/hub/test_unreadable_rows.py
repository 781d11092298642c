"""A log row no reader can decode is reported with its position and passed; it never stops the others.

The checks on append keep such rows out of the log now; these tests plant one with SQL (as a log written
before those checks, or edited by hand, would hold) to show that every reader goes on past it.
"""

from __future__ import annotations

import logging

import pytest
from django.db import OperationalError, connection

from hub import log, store
from hub.backends import backend
from hub.events import NewEvent
from hub.rebuild import rebuild
from tests.interactions.helpers import context, post

pytestmark = pytest.mark.django_db

_INSERT = (
    "INSERT INTO hub_event (source, event_id, type, subject, stream, stream_version, occurred_at,"
    " recorded_at, schema_version, data, metadata) VALUES ({source}, %s, 'message.received', '', %s, 1,"
    " {occurred_at}, %s, 1, {data}, '{{}}')"
)
# Values a reader cannot decode, as SQL for each database: (source, occurred_at, data).
UNREADABLE = {
    # What PostgreSQL stored for "9999-12-31T23:59:59-14:00": a year Python's datetime cannot hold.
    "a time after 9999": {
        "postgresql": ("'/planted'", "'10000-01-01 13:59:59+00'", "'{}'"),
        "sqlite": ("'/planted'", "'10000-01-01 13:59:59'", "'{}'"),
    },
    "data that is not a JSON object": {
        "postgresql": ("'/planted'", "'2026-01-01 00:00:00+00'", "'\"text\"'"),
        "sqlite": ("'/planted'", "'2026-01-01 00:00:00'", "'\"text\"'"),
    },
    # SQLite keeps whatever bytes it is given as text; PostgreSQL refuses them, so this one is SQLite's.
    "text that is not UTF-8": {
        "sqlite": ("CAST(X'2FFF' AS TEXT)", "'2026-01-01 00:00:00'", "'{}'"),
    },
}
_planted = iter(range(1, 10_000))


def plant(kind: str) -> int:
    """Insert an undecodable row with SQL (a test of the store); return its position."""
    values = UNREADABLE[kind].get(connection.vendor)
    if values is None:
        pytest.skip(f"{connection.vendor} cannot hold {kind}")
    source, occurred_at, data = values
    n = next(_planted)
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT.format(source=source, occurred_at=occurred_at, data=data),
            [f"planted-{n}", f"planted-{n}", "2026-01-01 00:00:00"],
        )
    return log.last_position()


def new(event_id: str) -> NewEvent:
    return NewEvent(source="/test", id=event_id, type="test.happened", stream="s-1", data={"n": event_id})


def append(event_id: str) -> int:
    return store.append([new(event_id)])[0].position


@pytest.mark.parametrize("kind", list(UNREADABLE))
def test_read_after_leaves_out_a_row_it_cannot_decode_tells_its_position_and_reads_past_it(kind):
    before = append("before")
    bad = plant(kind)
    after = append("after")
    told: list[int] = []

    events = log.read_after(0, on_unreadable=lambda position, exc: told.append(position))

    assert [e.position for e in events] == [before, after]
    assert told == [bad]
    # A page is never cut short by the bad row: asking for one event after `before` gets the next good one.
    assert [e.position for e in log.read_after(before, limit=1)] == [after]


def test_by_default_an_unreadable_row_is_logged_as_an_error_with_its_position(caplog):
    append("before")
    bad = plant("a time after 9999")
    with caplog.at_level(logging.ERROR, logger="hub.backends.base"):
        log.read_after(0)
    assert any(f"log position {bad} cannot be read" in r.getMessage() for r in caplog.records)


def test_a_page_of_nothing_but_unreadable_rows_is_not_mistaken_for_the_end_of_the_log():
    append("before")
    bad = [plant("a time after 9999"), plant("data that is not a JSON object"), plant("a time after 9999")]
    after = append("after")
    told: list[int] = []

    page = log.read_after(bad[0] - 1, limit=2, on_unreadable=lambda position, exc: told.append(position))

    assert [e.position for e in page] == [after]
    assert told == bad


def test_a_database_that_cannot_be_reached_is_an_error_not_an_unreadable_row(monkeypatch):
    append("a")
    db = backend()

    def away(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(db, "log_rows", away)
    monkeypatch.setattr(db, "ping", away)
    told: list[int] = []
    with pytest.raises(OperationalError):
        log.read_after(0, on_unreadable=lambda position, exc: told.append(position))
    assert told == []


def test_a_failure_that_passes_is_not_an_unreadable_row(monkeypatch):
    position = append("a")
    db = backend()
    real, calls = db.log_rows, []

    def fails_twice(*args, **kwargs):
        calls.append(args)
        if len(calls) <= 2:  # the page, then the row alone
            raise OperationalError("canceling statement due to statement timeout")
        return real(*args, **kwargs)

    monkeypatch.setattr(db, "log_rows", fails_twice)
    told: list[int] = []
    assert [e.position for e in log.read_after(0, on_unreadable=lambda p, exc: told.append(p))] == [position]
    assert told == [] and len(calls) == 3


def test_a_customer_with_an_unreadable_row_in_the_log_keeps_its_context_new_events_and_rebuild(
    api, supervisor_api
):
    first = post(api, id="first", data={"channel": "sms", "text": "one"})
    plant("a time after 9999")
    second = post(api, id="second", data={"channel": "sms", "text": "two"})

    assert second["customer_id"] == first["customer_id"]
    texts = sorted(e["text"] for e in context(api, "tel:+15551234567")["open_threads"][0]["recent"])
    assert texts == ["one", "two"]
    page = supervisor_api.get("/api/v1/events", {"after": 0, "limit": 1000})
    assert page.status_code == 200
    assert [e["event"]["id"] for e in page.json()["events"] if e["event"]["source"] != "/threadline"] == [
        "first",
        "second",
    ]
    rebuild()
    assert sorted(e["text"] for e in context(api, "tel:+15551234567")["open_threads"][0]["recent"]) == texts
