"""Readers never skip an event: appends from concurrent writers become visible in position order."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections, transaction

from hub import log, store
from hub.backends.postgresql import APPEND_LOCK_KEY
from hub.events import NewEvent
from tests.conftest import requires_postgresql

pytestmark = [requires_postgresql, pytest.mark.django_db(transaction=True)]

WRITERS = 8
EVENTS_PER_WRITER = 40


def _wait_for_advisory_waiter(timeout: float = 10.0) -> bool:
    """True once some session is queued on the append lock (read from pg_locks, not from timing)."""
    deadline = time.monotonic() + timeout
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = %s",
                [APPEND_LOCK_KEY & 0xFFFFFFFF],
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.01)
    return False


def test_second_writer_waits_until_the_first_commits_so_positions_appear_in_order():
    inserted, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def slow_writer():
        try:
            with transaction.atomic():
                store.append([NewEvent(source="/t", id="slow", type="t", stream="a", data={})])
                inserted.set()
                release.wait(10)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    def fast_writer():
        try:
            inserted.wait(10)
            store.append([NewEvent(source="/t", id="fast", type="t", stream="b", data={})])
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=slow_writer), threading.Thread(target=fast_writer)]
    for thread in threads:
        thread.start()
    assert inserted.wait(10)
    assert _wait_for_advisory_waiter(), "the second writer should queue on the append lock"
    # The slow writer holds a position but has not committed; the fast writer is queued behind it.
    assert log.read_after(0) == []
    release.set()
    for thread in threads:
        thread.join(20)

    assert errors == []
    events = log.read_after(0)
    assert [e.id for e in events] == ["slow", "fast"]
    assert events[0].position < events[1].position


def test_tailing_reader_sees_exactly_the_final_log_with_eight_concurrent_writers():
    done = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for i in range(EVENTS_PER_WRITER):
                store.append(
                    [NewEvent(source=f"/writer/{w}", id=str(i), type="t", stream=f"w-{w}", data={"i": i})]
                )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def reader() -> None:
        last = 0
        try:
            while True:
                finished = done.is_set()
                page = log.read_after(last, limit=50)
                if page:
                    seen.extend(e.position for e in page)
                    last = page[-1].position
                elif finished:
                    return
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    tail = threading.Thread(target=reader)
    tail.start()
    writers = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(120)
    done.set()
    tail.join(60)

    assert errors == []
    final = [e.position for e in log.read_after(0, limit=WRITERS * EVENTS_PER_WRITER + 1)]
    assert len(final) == WRITERS * EVENTS_PER_WRITER
    assert seen == final
