"""How long appends hold the global append lock, written down for the benchmark when it asks.

With THREADLINE_APPEND_HOLD_LOG set, each append notes when the lock was granted (the lean path: the
database's clock_timestamp() just after hub_append took it; the locked path: just after it returned) and
again when its transaction has committed (the COMMIT's answer received), and appends `<path> <seconds>` to
`<prefix>.<pid>`. The database runs on the same machine, so the clocks agree; the time for the COMMIT's
answer to come back is counted in. `path` is `lean` or `locked` (see hub.store).
"""

from __future__ import annotations

import os
import time
from datetime import datetime

from django.conf import settings
from django.db import transaction


def start(path: str, *, since: datetime | None = None) -> None:
    """Note this append's hold when its transaction commits: from `since` (when the database granted the
    lock, by its clock: the same machine's) or else from now (just after the lock was granted)."""
    prefix = settings.THREADLINE_APPEND_HOLD_LOG
    if not prefix:
        return
    began = since.timestamp() if since is not None else time.time()

    def note() -> None:
        with open(f"{prefix}.{os.getpid()}", "a", encoding="utf-8") as out:
            out.write(f"{path} {time.time() - began:.6f}\n")

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
