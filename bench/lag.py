"""Projection lag: how long after an event's append the subscriptions have applied it, under sustained ingest.

gunicorn (REST as production runs it) and one subscription runner (`manage.py run_subscriptions`). First the
single-event maximum: 16 clients posting one event per request as fast as they can (closed loop). Then paced
clients post one event per request at 80% of that rate for 60 s while a sampler reads, every 20 ms, each
subscription's position and the log's head (`hub_subscription`, `hub_event`) from its own connection.

An event's lag, for one subscription, is the time of the first sample that found the subscription's
position at or past the event, minus the event's `recorded_at` (set by the append just before its commit).
Both ends err on the long side: `recorded_at` is a little before the commit, and a sample is stamped after
its answer arrives, so a lag is overstated by up to one sampling interval plus a query. A subscription's
position passes every event up to it, of its types or not (that is what `min_position` reads), so every
event of the window counts for every subscription; "all" is the time until the last of them had it.
"Not growing": the p99 of the last third of the window's events at most 1.5x that of the first third (plus
two sampling intervals, the resolution). The runner's backlog (events between the head and the slowest
subscription) is reported beside it, averaged over the first and last thirds of the samples.

Sizes: BENCH_LAG_SECONDS (60), BENCH_LAG_MAX_SECONDS (8, the maximum's measure), BENCH_LAG_RATE (events/s to
offer instead of 80% of the measured maximum); BENCH_QUICK=1: 15 s and 4 s.
"""

from __future__ import annotations

import bisect
import threading
import time
from pathlib import Path

import psycopg

from bench import common
from bench.ingest import Poster, for_seconds
from bench.traffic import Traffic

SECONDS = common.size("BENCH_LAG_SECONDS", 60, 15)
MAX_SECONDS = common.size("BENCH_LAG_MAX_SECONDS", 8, 4)
RATE = common.size("BENCH_LAG_RATE", 0, 0) or None  # None: 80% of the measured maximum
SHARE = 0.8
CLIENTS = 16
SAMPLE_SECONDS = 0.02
TARGET_P99_MS = 250


SAMPLE = (
    "SELECT extract(epoch FROM clock_timestamp())::float8,"
    " (SELECT coalesce(max(position), 0) FROM hub_event), name, position, state FROM hub_subscription"
)


class Sampler(threading.Thread):
    """Every SAMPLE_SECONDS: (time, the head, each subscription's position), read in one statement.

    The time is PostgreSQL's clock once the statement's snapshot is taken (the same machine's clock as the
    appends' `recorded_at`), so neither this process's threads nor the answer's trip can make a lag look
    shorter than it was."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.samples: list[tuple[float, int, dict[str, int]]] = []
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                while not self.stopping.is_set():
                    rows = conn.execute(SAMPLE).fetchall()
                    parked = [name for *_, name, _, state in rows if state == "parked"]
                    if parked:
                        raise common.BenchError(f"subscription {', '.join(parked)} parked")
                    if rows:
                        positions = {name: position for _, _, name, position, _ in rows}
                        self.samples.append((rows[0][0], rows[0][1], positions))
                    self.stopping.wait(SAMPLE_SECONDS)
        except BaseException as exc:  # reported by the benchmark, which then refuses to give figures
            self.error = exc

    def stop(self) -> None:
        self.stopping.set()
        self.join()
        if self.error is not None:
            raise common.BenchError(f"the lag sampler failed: {self.error}")


def lags(events: list[tuple[int, float]], samples: list[tuple[float, int, dict[str, int]]]) -> dict:
    """Per subscription (and "all"): each event's lag in seconds, in the events' order.

    `events`: (position, recorded_at as a Unix time); `samples` in time order. A subscription's position
    only grows, so the first sample at or past an event is found by bisection.
    """
    names = sorted(samples[-1][2])
    result: dict[str, list[float]] = {}
    for name in names:
        times = [t for t, _, positions in samples if name in positions]
        reached = [positions[name] for _, _, positions in samples if name in positions]
        for i in range(1, len(reached)):  # never lower than an earlier sample (a rebuild could lower it)
            reached[i] = max(reached[i], reached[i - 1])
        lagged = []
        for position, recorded in events:
            i = bisect.bisect_left(reached, position)
            if i == len(reached):
                raise common.BenchError(f"subscription {name} never applied position {position}")
            lagged.append(max(0.0, times[i] - recorded))
        result[name] = lagged
    result["all"] = [max(values) for values in zip(*(result[n] for n in names), strict=True)]
    return result


def _thirds(values: list[float]) -> tuple[list[float], list[float]]:
    third = max(1, len(values) // 3)
    return values[:third], values[-third:]


def run(command: str) -> dict:
    url = common.scratch_database_url()
    env = common.bench_env(url, DATABASE_CONN_MAX_AGE="60")
    common.manage(env, "migrate", "--no-input")
    token = common.create_token(env, "bench-lag", "admin")
    port = common.free_port()
    base = f"http://127.0.0.1:{port}"
    specs = {"rest": common.gunicorn(port), "runner": common.runner()}
    with common.servers(specs, env, common.ROOT / "bench" / "results" / "lag-logs") as procs:
        common.wait_ready(base)
        poster = Poster(base, token, Traffic(source="/bench/lag", seed=7), first_id=60_000_000)
        poster.run(CLIENTS, for_seconds(2))  # warm every gunicorn worker
        common.wait_caught_up(url, procs["runner"])
        maximum = poster.run(CLIENTS, for_seconds(MAX_SECONDS))
        common.wait_caught_up(url, procs["runner"])
        rate = RATE or maximum["events_per_s"] * SHARE
        sampler = Sampler(url)
        sampler.start()
        with psycopg.connect(url, autocommit=True) as conn:
            start_head, _ = common.subscription_positions(conn)
        window = [time.time()]
        sustained = poster.run(CLIENTS, for_seconds(SECONDS), rate=rate)
        window.append(time.time())
        with psycopg.connect(url, autocommit=True) as conn:
            end_head, _ = common.subscription_positions(conn)
        caught_up = common.wait_caught_up(url, procs["runner"])
        time.sleep(2 * SAMPLE_SECONDS)  # one more sample past the head
        sampler.stop()
        runner_rss = common.rss_mib(procs["runner"].pid, peak=True)
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "SELECT position, extract(epoch FROM recorded_at)::float8 FROM hub_event"
                " WHERE position > %s AND position <= %s ORDER BY position",
                (start_head, end_head),
            ).fetchall()
    lagged = lags(rows, sampler.samples)
    result = {
        "maximum": maximum,
        "rate": rate,
        "sustained": sustained,
        "events": len(rows),
        "backlog": _backlog(sampler.samples, *window),
        "caught_up_after_s": caught_up,
        "samples": len(sampler.samples),
        "runner_peak_rss_mib": runner_rss,
        "lag_ms": {name: _figures(values) for name, values in lagged.items()},
    }
    _report(result, command, url)
    common.dump_json(Path(common.ROOT / "bench" / "results" / "lag.json"), result)
    return result


def _backlog(samples: list[tuple[float, int, dict[str, int]]], start: float, end: float) -> dict:
    """Events between the head and the slowest subscription: medians of the window's first and last thirds."""
    inside = [head - min(positions.values()) for t, head, positions in samples if start <= t <= end]
    first, last = _thirds(inside)
    return {
        "first_third": common.median(first) if inside else 0,
        "last_third": common.median(last) if inside else 0,
        "max": max(inside, default=0),
    }


def _figures(values: list[float]) -> dict:
    first, last = _thirds(values)
    return {
        "p50": common.percentile(values, 50) * 1000,
        "p99": common.percentile(values, 99) * 1000,
        "max": max(values) * 1000 if values else float("nan"),
        "first_third_p99": common.percentile(first, 99) * 1000,
        "last_third_p99": common.percentile(last, 99) * 1000,
    }


def _report(result: dict, command: str, url: str) -> None:
    figures = result["lag_ms"]
    every = figures["all"]
    smoke = SECONDS < 60
    resolution = 2 * SAMPLE_SECONDS * 1000
    growing = every["last_third_p99"] > 1.5 * every["first_third_p99"] + resolution
    backlog = result["backlog"]
    reached = result["sustained"]["events_per_s"] >= 0.95 * result["rate"]
    rows = [
        [
            name,
            f"{f['p50']:.0f}",
            f"**{f['p99']:.0f}**" if name == "all" else f"{f['p99']:.0f}",
            f"{f['max']:.0f}",
            f"{f['first_third_p99']:.0f} → {f['last_third_p99']:.0f}",
        ]
        for name, f in figures.items()
    ]
    sustained = result["sustained"]
    targets = [
        [
            f"projection lag p99 < {TARGET_P99_MS} ms at 80% of the single-event maximum for 60 s",
            f"{every['p99']:.0f} ms at {sustained['events_per_s']:.0f} events/s"
            f" for {sustained['seconds']:.0f} s",
            "smoke run" if smoke else _yes(every["p99"] < TARGET_P99_MS and reached),
        ],
        [
            "lag not growing: p99 of the last third of the events <= 1.5x the first third's"
            f" (+ {resolution:.0f} ms of resolution)",
            f"{every['first_third_p99']:.0f} → {every['last_third_p99']:.0f} ms (runner's backlog, median:"
            f" {backlog['first_third']:.0f} → {backlog['last_third']:.0f} events, at most {backlog['max']})",
            "smoke run" if smoke else _yes(not growing),
        ],
        [
            "the offered rate was sustained (95%)",
            f"{sustained['events_per_s']:.0f} of {result['rate']:.0f} events/s",
            _yes(reached),
        ],
    ]
    maximum = result["maximum"]
    heading = "## Projection lag under sustained ingest"
    if smoke:
        heading += f" (smoke run of {SECONDS:.0f} s: not a result)"
    body = (
        f"{heading}\n\ngunicorn (4 sync workers) and one subscription runner. Single-event maximum: "
        f"{maximum['events_per_s']:.0f} events/s ({CLIENTS} clients, closed loop, "
        f"{maximum['seconds']:.0f} s, p99 {maximum['p99_ms']:.0f} ms). Then {CLIENTS} paced clients offered "
        f"{result['rate']:.0f} events/s "
        f"({'as set by BENCH_LAG_RATE' if RATE else f'{SHARE:.0%} of it'}) for {SECONDS:.0f} s and "
        f"reached {sustained['events_per_s']:.0f} (POST p50 {sustained['p50_ms']:.0f} ms, p99 "
        f"{sustained['p99_ms']:.0f} ms): {sustained['events']:,} POSTs, {result['events']:,} events in the "
        "log with the hub's own (customers and threads opened). Lag, per event: from its `recorded_at` "
        "(set by the append just before its commit) to the first sample that found the subscription's "
        f"position at or past it; samples every {SAMPLE_SECONDS * 1000:.0f} ms ({result['samples']:,}), so a "
        "lag is overstated by up to that much. `all`: until every subscription had it. The runner had "
        f"applied everything {result['caught_up_after_s']:.2f} s after the last POST; its peak RSS "
        f"{result['runner_peak_rss_mib']:.0f} MiB.\n\n"
        + common.table(rows, ["subscription", "p50 ms", "p99 ms", "max ms", "p99 first → last third"])
        + "\n\n"
        + common.table(targets, ["target", "measured", "met"])
    )
    common.write_section("lag", body, command, url)
    print(body)


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"
