"""Readers never skip an event: appends from concurrent writers become visible in position order, and the
process's log tailer, woken by LISTEN/NOTIFY, hands its subscribers exactly the log.

That a second writer waits on the append lock until the first commits is the backend contract's
(tests/hub/contract.py, LockContract); these are the end-to-end effects a tailing reader sees.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from django.db import connection

from hub import log, store
from hub.events import NewEvent, RecordedEvent
from hub.tail import LogTailer
from tests.conftest import requires_postgresql
from tests.hub.helpers import in_db_thread, until

pytestmark = [requires_postgresql, pytest.mark.django_db(transaction=True)]

WRITERS = 8
EVENTS_PER_WRITER = 40


def _writer(w: int, errors: list[BaseException]) -> None:
    """One of the concurrent writers: EVENTS_PER_WRITER appends, one event per transaction."""
    try:
        for i in range(EVENTS_PER_WRITER):
            store.append(
                [NewEvent(source=f"/writer/{w}", id=str(i), type="t", stream=f"w-{w}", data={"i": i})]
            )
    except BaseException as exc:  # surfaced by the test's assertion on `errors`
        errors.append(exc)
    finally:
        connection.close()


def _run_writers(errors: list[BaseException]) -> None:
    writers = [threading.Thread(target=_writer, args=(w, errors)) for w in range(WRITERS)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(120)


def test_a_reader_paging_with_read_after_sees_exactly_the_final_log_with_eight_concurrent_writers():
    done = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

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
    _run_writers(errors)
    done.set()
    tail.join(60)

    assert errors == []
    final = [e.position for e in log.read_after(0, limit=WRITERS * EVENTS_PER_WRITER + 1)]
    assert len(final) == WRITERS * EVENTS_PER_WRITER
    assert seen == final


def _database_now():
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        return cursor.fetchone()[0]


def _listening_since(since) -> bool:
    """Has a session opened after `since` run LISTEN on the log's channel (the tailer's listener)?"""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query = %s AND backend_start >= %s",
            [f"LISTEN {log.LOG_CHANNEL}", since],
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.asyncio
async def test_the_log_tailer_woken_by_notify_delivers_exactly_the_final_log_with_eight_concurrent_writers(
    settings,
):
    # The safety-net poll is pushed out of reach: once its listener is in place, only the appends' NOTIFY
    # can wake the tailer, so what the subscriber receives came through LISTEN/NOTIFY and the tailer's reads.
    settings.THREADLINE_TAIL_POLL_SECONDS = 3600
    tailer = LogTailer()
    pages: list[list[RecordedEvent]] = []
    errors: list[BaseException] = []
    try:
        before = await in_db_thread(_database_now)
        start = await tailer.subscribe(pages.append)
        await until(lambda: in_db_thread(_listening_since, before), "the tailer's LISTEN session")
        await asyncio.to_thread(_run_writers, errors)
        final = await in_db_thread(lambda: log.read_after(start, limit=WRITERS * EVENTS_PER_WRITER + 1))
        assert errors == [] and len(final) == WRITERS * EVENTS_PER_WRITER
        await until(
            lambda: pages and pages[-1][-1].position >= final[-1].position,
            "the subscriber to receive the last append",
        )
    finally:
        await tailer.stop()

    received = [(e.position, e.source, e.id) for page in pages for e in page]
    # Exactly the log: in position order, no gap, no duplicate, nothing before the subscription.
    assert received == [(e.position, e.source, e.id) for e in final]
