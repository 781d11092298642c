"""Follow the log as it grows: one tailer per process reads committed events in order and hands them on.

On PostgreSQL the tailer LISTENs for the append's NOTIFY and also polls now and then (a notification can be
lost across a reconnect); on SQLite it polls. Either way it reads the log itself after its own cursor, so
what subscribers get is exactly the log, in position order, with no gaps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connection

from hub import store

logger = logging.getLogger(__name__)
PAGE = 500
Subscriber = Callable[[list[store.RecordedEvent]], None]


def _read(after: int) -> list[store.RecordedEvent]:
    close_old_connections()
    return store.read_after(after, limit=PAGE)


def _last() -> int:
    close_old_connections()
    return store.last_position()


# SQLite: reads in a worker thread (opening a file is cheap); PostgreSQL uses the tailer's own connection.
_sqlite_read_after = sync_to_async(_read, thread_sensitive=False)
_sqlite_last_position = sync_to_async(_last, thread_sensitive=False)


def _pg_params() -> dict:
    params = connection.get_connection_params()
    for key in ("cursor_factory", "context", "pool"):
        params.pop(key, None)
    # Timestamps in UTC, as Django's own connections read them.
    params["options"] = (params.get("options", "") + " -c timezone=UTC").strip()
    return params


class LogTailer:
    """Reads the log after `position` as it grows and calls every subscriber with each new page."""

    def __init__(self) -> None:
        self.position = 0
        self._subscribers: set[Subscriber] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._listener: asyncio.Task | None = None
        self._started = asyncio.Event()
        self._reader = None  # PostgreSQL: a psycopg AsyncConnection kept for the tailer's reads
        self._postgresql = connection.vendor == "postgresql"

    async def _connect_reader(self):
        import psycopg

        if self._reader is None or self._reader.closed:
            self._reader = await psycopg.AsyncConnection.connect(autocommit=True, **_pg_params())
        return self._reader

    async def _read_after(self, after: int) -> list[store.RecordedEvent]:
        if not self._postgresql:
            return await _sqlite_read_after(after)
        from psycopg.rows import dict_row

        reader = await self._connect_reader()
        async with reader.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(
                f"SELECT {store.LOG_COLUMNS} FROM hub_event WHERE position > %s ORDER BY position LIMIT %s",
                [after, PAGE],
            )
            rows = await cursor.fetchall()
        return [store.recorded_from_row(row) for row in rows]

    async def _last_position(self) -> int:
        if not self._postgresql:
            return await _sqlite_last_position()
        reader = await self._connect_reader()
        async with reader.cursor() as cursor:
            await cursor.execute("SELECT coalesce(max(position), 0) FROM hub_event")
            return (await cursor.fetchone())[0]

    async def subscribe(self, subscriber: Subscriber) -> int:
        """Register; return the position from which the subscriber will be called (events after it)."""
        await self._ensure_started()
        self._subscribers.add(subscriber)
        return self.position

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def wake(self) -> None:
        self._wake.set()

    async def _ensure_started(self) -> None:
        if self._task is None:
            self.position = await self._last_position()
            self._task = asyncio.create_task(self._run(), name="threadline-log-tailer")
            if self._postgresql:
                self._listener = asyncio.create_task(self._listen(), name="threadline-log-listener")
            self._started.set()
        await self._started.wait()

    async def _run(self) -> None:
        poll = settings.THREADLINE_TAIL_POLL_SECONDS
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=poll)
            self._wake.clear()
            try:
                while True:
                    events = await self._read_after(self.position)
                    if not events:
                        break
                    self.position = events[-1].position
                    for subscriber in list(self._subscribers):
                        subscriber(events)
                    if len(events) < PAGE:
                        break
            except Exception:  # the database may be briefly away; keep the position and try again
                logger.exception("log tailer failed to read after %s; retrying", self.position)
                if self._reader is not None:
                    await self._reader.close()
                    self._reader = None
                await asyncio.sleep(poll)

    async def _listen(self) -> None:
        import psycopg

        while True:
            try:
                async with await psycopg.AsyncConnection.connect(autocommit=True, **_pg_params()) as conn:
                    await conn.execute(f"LISTEN {store.LOG_CHANNEL}")
                    self.wake()  # anything committed while (re)connecting
                    async for _ in conn.notifies():
                        self.wake()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("LISTEN connection lost; reconnecting (polling meanwhile)")
                await asyncio.sleep(1)

    async def stop(self) -> None:
        for task in (self._task, self._listener):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._reader is not None:
            await self._reader.close()


_tailers: dict[asyncio.AbstractEventLoop, LogTailer] = {}


async def stop_tailer() -> None:
    """Stop the running loop's tailer and close its connections (tests, shutdown)."""
    current = _tailers.pop(asyncio.get_running_loop(), None)
    if current is not None:
        await current.stop()


def tailer() -> LogTailer:
    """The tailer of the running event loop (one per ASGI process)."""
    loop = asyncio.get_running_loop()
    for old in [lp for lp in _tailers if lp.is_closed()]:
        del _tailers[old]
    if loop not in _tailers:
        _tailers[loop] = LogTailer()
    return _tailers[loop]
