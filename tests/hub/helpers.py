"""Helpers for tests that drive the log tailer from an event loop: database calls in threads, waits."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

from django.db import connection


def in_db_thread(fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
    """A database call in a thread of its own (never on the event loop), its connection closed after."""

    def call():
        try:
            return fn(*args)
        finally:
            connection.close()

    return asyncio.to_thread(call)


async def until(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> None:
    """Wait, bounded, for a condition (sync or async). Tests assert on what arrived, never on how fast."""
    deadline = time.monotonic() + timeout
    while True:
        met = condition()
        if inspect.isawaitable(met):
            met = await met
        if met:
            return
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.02)
