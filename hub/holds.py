"""How long appends hold the global append lock, written down for the benchmark when it asks.

With THREADLINE_APPEND_HOLD_LOG set, each append notes the time just before it asks for the lock (the lean
path: just before the round trip that takes it) and again when its transaction has committed, and appends
`<path> <seconds>` to `<prefix>.<pid>`. That is an upper bound of the hold: it includes the request's way
to the server before the lock is granted and the waiting for it, if another append holds it. `path` is
`lean` or `locked` (see hub.store). An append undone to its savepoint (a collision) notes nothing.
"""

from __future__ import annotations

import os
import time

from django.conf import settings
from django.db import transaction


def start(path: str) -> None:
    prefix = settings.THREADLINE_APPEND_HOLD_LOG
    if not prefix:
        return
    began = time.perf_counter()

    def note() -> None:
        with open(f"{prefix}.{os.getpid()}", "a", encoding="utf-8") as out:
            out.write(f"{path} {time.perf_counter() - began:.6f}\n")

    transaction.on_commit(note, robust=True)


def read(prefix: str) -> dict[str, list[float]]:
    """Every hold noted under `prefix`, in seconds, by path; the files are removed once read."""
    found: dict[str, list[float]] = {}
    folder, stem = os.path.split(prefix)
    for name in os.listdir(folder or "."):
        if name.startswith(f"{stem}."):
            file = os.path.join(folder, name)
            with open(file, encoding="utf-8") as lines:
                for line in lines:
                    path, seconds = line.split()
                    found.setdefault(path, []).append(float(seconds))
            os.remove(file)
    return found
