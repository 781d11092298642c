"""What a server process does once Django is set up, before it serves: load every view, then freeze the
objects it has so far out of the garbage collector's reach.

A full collection (generation 2) walks every tracked object in the process: after Django's set-up and the
URL conf's imports that is about 121,000 objects (modules, classes, functions, settings, the
catalogue's schemas), none of which will ever be garbage. A read that builds thousands of small dicts (a
measure by day by agent) triggers collections as it allocates, and the one that is a full collection then
costs more than the read: measured in process on the 1M-event benchmark database, the month by day by agent
went from p99 132 to 55 ms with the startup objects frozen (docs/benchmarks.md, 2026-12-06).

`gc.freeze()` moves every object tracked now to a permanent generation that collections skip. It is safe:
reference counting still frees them, the collector still runs for everything allocated afterwards (each
request's objects), and the frozen objects are the process's own set-up that lives as long as it does
(what set-up left as garbage is collected just before the freeze). Each gunicorn worker imports
config.wsgi after its fork (no --preload), and uvicorn imports config.asgi in its one process, so it runs
once per process, before the first request.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Import every view (the URL conf is otherwise loaded on the first request), collect what set-up left
    behind, then freeze the rest."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (imports every view module now, not in the first request)
    gc.collect()
    gc.freeze()
