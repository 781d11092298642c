"""The process's log tailer: one read loop however its first subscribers arrive, each event handed to each
subscriber once, and its database sessions released when it stops."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections

from hub import store
from hub.backends import backend
from hub.events import NewEvent, RecordedEvent
from hub.tail import LogTailer
from tests.conftest import requires_postgresql
from tests.hub.helpers import in_db_thread, until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def _append(*ids: str) -> list[RecordedEvent]:
    events = [NewEvent(source="/tail", id=i, type="t", stream="tail", data={}) for i in ids]
    return [result.event for result in store.append(events)]


def _tailer_tasks() -> Counter:
    """The tailer loops running on this event loop, by name."""
    return Counter(t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("threadline-log-"))


async def test_two_concurrent_first_subscribes_start_one_read_loop_and_each_subscriber_gets_each_event_once():
    (head,) = await in_db_thread(_append, "before")
    tailer = LogTailer()
    first: list[RecordedEvent] = []
    second: list[RecordedEvent] = []
    try:
        # Both arrive while the tailer is still reading the log's head: neither has started it yet.
        starts = await asyncio.gather(tailer.subscribe(first.extend), tailer.subscribe(second.extend))
        loops = _tailer_tasks()

        written = await in_db_thread(_append, "a", "b", "c")
        tailer.wake()  # with two loops, both would wake here and read the same page
        await until(lambda: first and second and first[-1].id == second[-1].id == "c", "a, b and c")
        # Then a sentinel, so the comparison below covers everything delivered up to it, repeats included.
        written += await in_db_thread(_append, "sentinel")
        tailer.wake()
        await until(lambda: first[-1].id == second[-1].id == "sentinel", "the sentinel")
    finally:
        await tailer.stop()

    assert loops["threadline-log-tailer"] == 1
    assert loops["threadline-log-listener"] == (1 if backend().notifies else 0)
    assert starts == [head.position, head.position]  # both from the head when they subscribed
    expected = [(e.position, e.id) for e in written]
    assert [(e.position, e.id) for e in first] == expected
    assert [(e.position, e.id) for e in second] == expected


async def test_stop_ends_the_tailer_even_when_a_wake_up_arrives_with_it(settings):
    settings.THREADLINE_TAIL_POLL_SECONDS = 3600  # only wake-ups move the loop
    tailer = LogTailer()
    await tailer.subscribe(lambda events: None)
    for _ in range(5):
        await asyncio.sleep(0)  # the read loop reaches its wait for a wake-up
    loop_task = next(t for t in asyncio.all_tasks() if t.get_name() == "threadline-log-tailer")

    tailer.wake()  # a NOTIFY, say, in the same turn of the event loop as the shutdown
    stopping = asyncio.ensure_future(tailer.stop())
    done, _ = await asyncio.wait({stopping}, timeout=30)  # no cancellation of its own: see what happened

    assert stopping in done, "stop() is still waiting for the read loop"
    assert loop_task.cancelled()


def _other_sessions() -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return {row[0] for row in cursor.fetchall()}


async def test_stop_closes_the_connection_the_tailer_read_through():
    tailer = LogTailer()
    await tailer.subscribe(lambda events: None)
    # The connection of the tailer's thread, looked up in that thread. Holding it here means only an explicit
    # close can end it (not the garbage collector once the thread is gone).
    reader = await tailer._in_thread(lambda: connections[DEFAULT_DB_ALIAS])
    assert reader.connection is not None

    await tailer.stop()

    assert reader.connection is None


@requires_postgresql
async def test_stop_ends_the_tailers_reading_and_listening_sessions():
    before = await in_db_thread(_other_sessions)
    tailer = LogTailer()
    await tailer.subscribe(lambda events: None)
    reader = await tailer._in_thread(lambda: connections[DEFAULT_DB_ALIAS])  # held, as above

    async def tailer_sessions(count: int) -> bool:
        return len(await in_db_thread(_other_sessions) - before) == count

    await until(lambda: tailer_sessions(2), "the tailer's reader and listener to connect")
    await tailer.stop()
    await until(lambda: tailer_sessions(0), "the tailer's sessions to end")
    assert reader.connection is None
