"""`python -m bench.profile [single|batch|rebuild|replay ...]`: where the time goes on paths short of target.

Profiles the hub in-process with pyinstrument (sampling, wall-clock, low overhead) against a scratch
PostgreSQL database (`threadline_profile` on the server DATABASE_URL names, or THREADLINE_PROFILE_DB) seeded
with PROFILE_EVENTS (default 50,000; 5,000 under BENCH_QUICK) events of the benchmarks' traffic:

- `single`: 300 one-event `POST /api/v1/events` through Django's test client (middleware, DRF, validation,
  placement, the append and its inline projections; no HTTP server, so the server's share is not in it; the
  read models are subscriptions, applied by no runner here, as they are off the request's path);
- `batch`: 20 POSTs of 500 events, the same way;
- `rebuild`: `rebuild_projections` over the seeded log;
- `wakeup`: 300 times, one one-event POST, then one pass of a subscription runner (in-process) that applies
  it: the runner's cost per wake-up under single-event traffic, beside the request's, in one tree;
- `context`: 300 `GET /api/v1/context?identifier=` for regular and occasional customers, once a runner has
  applied the seeded log to the read models (untimed); the header also gives the statements one read sends;
- `replay`: a subscription runner (hub.runner.Runner, in-process) applying the whole seeded log to the read
  models from position 0, as `run_subscriptions` does with a backlog (each round first empties the read
  models and sets the subscriptions back to 0, untimed).

Each profile is written as a call tree (frames under 1% of the total left out) to `docs/profiles/<name>.txt`
(`bench/results/profiles/` under BENCH_QUICK), with the machine, date and wall time on top;
docs/benchmarks.md reads them. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime

from bench import common
from bench.traffic import Traffic

PROFILES = ("single", "batch", "rebuild", "replay", "wakeup", "context")
EVENTS = int(common.size("PROFILE_EVENTS", 50_000, 5_000))
SCRATCH_DB = os.environ.get("THREADLINE_PROFILE_DB", "threadline_profile")
SINGLE_REQUESTS, BATCHES, BATCH, CONTEXT_READS = 300, 20, 500, 300
# Traffic's customer n is tel:/mailto:/chat:/social: by n % 4; the low numbers are its regulars.
CONTEXT_SUBJECTS = (
    "tel:+15550000000",
    "mailto:customer1@example.com",
    "tel:+15550000100",
    "social:x:handle303",
)
# A smoke run's trees go beside its other figures, not into the docs.
OUT = common.ROOT / ("bench/results/profiles" if common.quick() else "docs/profiles")


def _setup() -> tuple[str, Traffic]:
    url = common.scratch_database_url(SCRATCH_DB)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DATABASE_CONN_MAX_AGE", "60")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()  # lets the test client's host through ALLOWED_HOSTS
    call_command("migrate", verbosity=0)
    from interactions.access.tokens import token_create
    from interactions.ingestion.pipeline import events_ingest

    token, raw = token_create(name="bench-profile", role="admin")
    traffic = Traffic()
    for offset in range(0, EVENTS, 1000):
        events_ingest(traffic.events(min(1000, EVENTS - offset), offset=offset), token=token)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return raw, traffic


def _poster(raw: str) -> Callable[[list[dict]], None]:
    from django.test import Client

    client = Client()

    def post(events: list[dict]) -> None:
        batch = len(events) > 1
        response = client.post(
            "/api/v1/events",
            json.dumps(events if batch else events[0]),
            content_type="application/cloudevents-batch+json" if batch else "application/cloudevents+json",
            HTTP_AUTHORIZATION=f"Bearer {raw}",
        )
        if response.status_code != 201:
            raise common.BenchError(f"POST answered {response.status_code}: {response.content[:300]!r}")

    return post


def _work(name: str, raw: str, traffic: Traffic, round_: int) -> tuple[Callable[[], None], int]:
    """(the work, the events in it) for one round of one profile; each round posts new events."""
    post = _poster(raw)
    offset = 10_000_000 + PROFILES.index(name) * 1_000_000 + round_ * 100_000
    if name == "single":
        events = traffic.events(SINGLE_REQUESTS, offset=offset)
        return lambda: [post([e]) for e in events], SINGLE_REQUESTS
    if name == "batch":
        batches = [traffic.events(BATCH, offset=offset + i * BATCH) for i in range(BATCHES)]
        return lambda: [post(b) for b in batches], BATCHES * BATCH
    from hub.models import StoredEvent

    if name == "replay":
        return _replay(), StoredEvent.objects.count()
    if name == "wakeup":
        return _wakeups(post, traffic.events(SINGLE_REQUESTS, offset=offset)), SINGLE_REQUESTS
    if name == "context":
        return _contexts(raw), CONTEXT_READS
    from hub.rebuild import rebuild

    return rebuild, StoredEvent.objects.count()


def _replay() -> Callable[[], None]:
    """Empty the read models and set their subscriptions back to 0 (now); the work: a runner catching up."""
    from django.db import transaction

    from hub import subscriptions
    from hub.runner import Runner

    names = subscriptions.registered()
    with transaction.atomic():
        subscriptions.ensure_rows(names)
        for handler in subscriptions.handlers():
            handler.reset()
        subscriptions.set_positions(names, 0)
    runner = Runner(owner="bench-profile")

    def work() -> None:
        while runner.pass_once():
            pass

    return work


def _wakeups(post: Callable[[list[dict]], None], events: list[dict]) -> Callable[[], None]:
    from hub import subscriptions
    from hub.runner import Runner

    runner = Runner(owner="bench-profile")
    subscriptions.ensure_rows(runner.names)
    while runner.pass_once():  # untimed: the log seeded before and the rounds before
        pass

    def work() -> None:
        for event in events:
            post([event])
            runner.pass_once()

    return work


def _contexts(raw: str) -> Callable[[], None]:
    """The read models caught up first (untimed); the work: context reads, as an agent's client sends them."""
    from urllib.parse import quote

    from django.test import Client

    from hub import subscriptions
    from hub.runner import Runner

    runner = Runner(owner="bench-profile")
    subscriptions.ensure_rows(runner.names)
    while runner.pass_once():
        pass
    client = Client()
    urls = [f"/api/v1/context?identifier={quote(s)}" for s in CONTEXT_SUBJECTS]

    def read(url: str) -> None:
        response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {raw}")
        if response.status_code != 200:
            raise common.BenchError(f"GET {url} answered {response.status_code}: {response.content[:300]!r}")

    def work() -> None:
        for i in range(CONTEXT_READS):
            read(urls[i % len(urls)])

    work.statements = lambda: _statements(lambda: read(urls[0]))  # type: ignore[attr-defined]
    return work


def _statements(once: Callable[[], None]) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        once()
    return len(captured)


def _timed(work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    names = common.chosen(parser, PROFILES, "profile")
    common.require_postgresql()
    common.require_extra("pyinstrument")
    from pyinstrument import Profiler

    raw, traffic = _setup()
    facts = common.machine()
    OUT.mkdir(parents=True, exist_ok=True)
    for name in names:
        _timed(_work(name, raw, traffic, 0)[0])  # warm: connections, prepared statements, caches
        work, events = _work(name, raw, traffic, 1)
        plain = _timed(work)  # the same amount of work without the profiler, for the real rate
        work, events = _work(name, raw, traffic, 2)
        profiler = Profiler()
        profiler.start()
        profiled = _timed(work)
        profiler.stop()
        statements = getattr(work, "statements", None)
        extra = f" One read sends {statements()} statements." if statements else ""
        header = (
            f"# bench.profile {name}: {events:,} events in {plain:.2f} s ({events / plain:,.0f} events/s;"
            f" {profiled:.2f} s under the profiler, whose tree is below) on a log seeded with"
            f" {EVENTS:,} posted events.{extra}\n"
            f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {facts['cores']} cores ({facts['cpu']}),"
            f" {facts['memory']}, Python {facts['python']}. Reproduce: DATABASE_URL=postgres://..."
            f" python -m bench.profile {name}\n\n"
        )
        tree = profiler.output_text(show_all=False, processor_options={"filter_threshold": 0.01})
        (OUT / f"{name}.txt").write_text(header + tree)
        print(header.strip())


if __name__ == "__main__":
    common.entry_point(main)
