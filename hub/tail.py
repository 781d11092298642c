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
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connection

from hub import log
from hub.backends import backend
from hub.events import RecordedEvent

logger = logging.getLogger(__name__)
PAGE = 500
Subscriber = Callable[[list[RecordedEvent]], None]


def _read_after(after: int) -> tuple[list[RecordedEvent], int]:
    """The next page and the position it reaches, read in the tailer's own thread (and so on its own
    database connection).

    A row no reader can decode is reported with its position and passed: the page reaches past it even when
    it is the last row of the log, so it is reported once and live delivery goes on for every socket.
    """
    skipped: list[int] = []

    def report(position: int, exc: Exception) -> None:
        logger.error(
            "log tailer: position %s cannot be read; sockets will not get it (%s: %s)",
            position,
            type(exc).__name__,
            exc,
        )
        skipped.append(position)

    try:
        events = log.read_after(after, limit=PAGE, on_unreadable=report)
    except Exception:
        connection.close()  # the next read reconnects
        raise
    return events, max([after, *skipped, *(e.position for e in events[-1:])])


def _last_position() -> int:
    return log.last_position()


def _close_connection() -> None:
    # Looked up here, in the tailer's thread: `connection.close` evaluated on the event loop would be the
    # loop thread's connection (Django refuses to close it from another thread) and leave this one open.
    connection.close()


class LogTailer:
    """Reads the log after `position` as it grows and calls every subscriber with each new page."""

    def __init__(self) -> None:
        self.position = 0
        self._subscribers: set[Subscriber] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._listener: asyncio.Task | None = None
        self._starting: asyncio.Future | None = None
        # One thread, so one database connection kept across reads; reads go through hub.log like any other.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="threadline-log-tailer")

    async def _in_thread(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

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
        # The first caller starts the loops; callers that arrive while it awaits the head wait for it, so
        # two concurrent subscribes never start two tailer loops.
        if self._starting is None:
            self._starting = asyncio.get_running_loop().create_future()
            try:
                self.position = await self._in_thread(_last_position)
            except BaseException as exc:
                self._starting.set_exception(exc)
                starting, self._starting = self._starting, None
                starting.exception()  # retrieved: the next subscribe tries again
                raise
            self._task = asyncio.create_task(self._run(), name="threadline-log-tailer")
            if backend().notifies:
                self._listener = asyncio.create_task(self._listen(), name="threadline-log-listener")
            self._starting.set_result(None)
        await asyncio.shield(self._starting)

    async def _run(self) -> None:
        poll = settings.THREADLINE_TAIL_POLL_SECONDS
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11, wait_for swallows a cancellation that arrives as
            # the wake-up completes, and stop() then waits forever for a loop that carries on.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll):
                    await self._wake.wait()
            self._wake.clear()
            try:
                while True:
                    events, self.position = await self._in_thread(_read_after, self.position)
                    if events:
                        self._deliver(events)
                    if len(events) < PAGE:
                        break
            except Exception:  # the database may be briefly away; keep the position and try again
                logger.exception("log tailer failed to read after %s; retrying", self.position)
                await asyncio.sleep(poll)

    def _deliver(self, events: list[RecordedEvent]) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(events)
            except Exception:  # one failing subscriber must not keep the page from the others
                logger.exception(
                    "a log subscriber failed on positions %s-%s", events[0].position, events[-1].position
                )

    async def _listen(self) -> None:
        import psycopg

        while True:
            try:
                params = await self._in_thread(backend().listen_params)
                async with await psycopg.AsyncConnection.connect(autocommit=True, **params) as conn:
                    await conn.execute(f"LISTEN {log.LOG_CHANNEL}")
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
        with contextlib.suppress(Exception):
            await self._in_thread(_close_connection)
        self._thread.shutdown(wait=False)


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
        gone = _tailers.pop(old)  # its loop ended without stop(): close its connection all the same
        gone._thread.submit(_close_connection)
        gone._thread.shutdown(wait=False)
    if loop not in _tailers:
        _tailers[loop] = LogTailer()
    return _tailers[loop]
