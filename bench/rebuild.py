"""Rebuild: the offline replay rate on a large log, and an online rebuild of the context projections
(customers, threads) while ingest runs at half its measured maximum.

Seeds the log in-process through the ingestion service (as `bench context` does): 1,000,000 posted events by
default, which with the hub's own customer and thread events make a log of about 1.2M; a quick run:
BENCH_REBUILD_EVENTS=50000. Then:

1. `manage.py rebuild_projections` (offline, every projection) timed: events/s.
2. gunicorn (REST as production runs it) and a subscription runner start. Single-event POSTs from 16 clients
   for a few seconds give the maximum ingest rate; paced clients then post at half of it, first with
   nothing else running (idle p99), then while `manage.py rebuild_projections --online customers threads`
   runs (p99 during the rebuild). Latency is each POST's, from send to answer.
3. Once the runner has applied everything, the rebuilt tables are checksummed, rebuilt offline, and
   checksummed again: the online rebuild must equal the offline one.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from pathlib import Path

from bench import common
from bench.ingest import Poster, for_seconds
from bench.traffic import Traffic

EVENTS = int(common.size("BENCH_REBUILD_EVENTS", 1_000_000, 20_000))
FULL_LOG = 1_150_000  # a log at least this long is the size (1.2M); a shorter run is a smoke run
MAX_CLIENTS, MAX_SECONDS = 16, 8
PACED_CLIENTS, IDLE_SECONDS = 8, 20
CONTEXT = ("customers", "threads")
# The context projections' tables, each with the columns that order its rows (a checksum per table).
TABLES = {
    "interactions_customer": "id",
    "interactions_customer_identifier": "uri",
    "interactions_thread": "id",
    "interactions_conversation_ref": "ref",
    "interactions_timeline_entry": "position",
}


def _sql(url: str, sql: str) -> str:
    import environ

    config = environ.Env.db_url_config(url)
    done = subprocess.run(
        [*common._psql_args(config, config["NAME"]), "-tAc", sql], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _checksums(url: str) -> dict[str, str]:
    digest = (
        "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY {key})), '')"
        " FROM {table} AS t"
    )
    return {table: _sql(url, digest.format(key=key, table=table)) for table, key in TABLES.items()}


def _head(url: str) -> int:
    return int(_sql(url, "SELECT coalesce(max(position), 0) FROM hub_event"))


def _caught_up(url: str) -> bool:
    names = ", ".join(f"'{n}'" for n in CONTEXT)
    head = _head(url)
    behind = _sql(url, f"SELECT count(*) FROM hub_subscription WHERE name IN ({names}) AND position < {head}")
    return int(behind) == 0


def _wait(condition, what: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise common.BenchError(f"gave up waiting for {what}")
        time.sleep(0.5)


def _wal_and_checkpoints(url: str) -> tuple[str, int]:
    """The server's WAL position and how many checkpoints it has made (its own counters: every database)."""
    row = _sql(
        url,
        "SELECT pg_current_wal_lsn() || ' ' || (checkpoints_timed + checkpoints_req) FROM pg_stat_bgwriter",
    )
    lsn, checkpoints = row.split()
    return lsn, int(checkpoints)


def _offline(env: dict[str, str], url: str) -> dict:
    size = int(_sql(url, "SELECT count(*) FROM hub_event"))
    started = time.perf_counter()
    common.manage(env, "rebuild_projections", "--verbosity", "0")
    seconds = time.perf_counter() - started
    return {"log_size": size, "seconds": seconds, "events_per_s": size / seconds}


def _background() -> None:
    """In the rebuild's process before it runs: the lowest CPU priority, as README recommends for an online
    rebuild on a machine shared with the servers. With Linux's autogroups a nice value counts only against
    processes of the same session, so the rebuild starts its own session (`start_new_session`) and lowers
    that group's weight too (`/proc/self/autogroup`, where the kernel has it)."""
    os.nice(19)
    with contextlib.suppress(OSError):
        Path("/proc/self/autogroup").write_text("19")


def run(command: str) -> dict:
    from bench.context import _seed, _settle

    url = common.scratch_database_url()
    os.environ["DATABASE_URL"] = url
    env = common.bench_env(url, DATABASE_CONN_MAX_AGE="60")
    common.manage(env, "migrate", "--no-input")
    _seed(EVENTS)
    offline = _offline(env, url)
    _settle()
    token = common.create_token(env, "bench-rebuild", "admin")
    port = common.free_port()
    base = f"http://127.0.0.1:{port}"
    specs = {
        "rest": common.gunicorn(port),
        "runner": common.runner(),
    }
    logs = common.ROOT / "bench" / "results" / "rebuild-logs"
    with common.servers(specs, env, logs) as procs:
        common.wait_ready(base)
        traffic = Traffic(customers=20_000, source="/bench/rebuild", seed=11)
        ingest = Poster(base, token, traffic, first_id=50_000_000)
        ingest.run(MAX_CLIENTS, for_seconds(2))  # warm every worker
        maximum = ingest.run(MAX_CLIENTS, for_seconds(MAX_SECONDS))
        rate = maximum["events_per_s"] / 2
        _wait(lambda: _caught_up(url), "the runner after the maximum")
        idle = ingest.run(PACED_CLIENTS, for_seconds(IDLE_SECONDS), rate=rate)
        wal_before, checkpoints_before = _wal_and_checkpoints(url)
        rebuild = subprocess.Popen(
            [str(common.BIN / "python"), "manage.py", "rebuild_projections", "--online", *CONTEXT,
             "--verbosity", "0"],
            cwd=common.ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True, preexec_fn=_background,
        )  # fmt: skip
        started = time.perf_counter()
        during = ingest.run(PACED_CLIENTS, lambda: rebuild.poll() is not None, rate=rate)
        online_seconds = time.perf_counter() - started
        wal_after, checkpoints_after = _wal_and_checkpoints(url)
        wal_mb = int(_sql(url, f"SELECT pg_wal_lsn_diff('{wal_after}', '{wal_before}')")) / 2**20
        out, err = rebuild.communicate()
        if rebuild.returncode != 0:
            raise common.BenchError(f"the online rebuild failed: {err[-2000:]}")
        _wait(lambda: _caught_up(url), "the runner after the online rebuild")
        if procs["runner"].poll() is not None:
            raise common.BenchError("the runner stopped during the online rebuild")
    online_sums = _checksums(url)
    offline_again = _offline(env, url)
    equal = online_sums == _checksums(url)
    swap = re.search(r"swapped in (\d+) ms, (\d+) attempt", out)
    result = {
        "posted": EVENTS,
        "offline": offline,
        "offline_after": offline_again,
        "maximum": maximum,
        "rate": rate,
        "idle": idle,
        "during": during,
        "online_seconds": online_seconds,
        "online_output": out.strip(),
        "online_wal_mb": wal_mb,  # the WAL the server wrote while it ran (the rebuild, ingest, the runner)
        "online_checkpoints": checkpoints_after - checkpoints_before,
        "online_unlogged": os.environ.get("THREADLINE_REBUILD_UNLOGGED", "true"),
        "swap_ms": int(swap.group(1)) if swap else None,
        "swap_attempts": int(swap.group(2)) if swap else None,
        "equal": equal,
        "checksums": online_sums,
    }
    _report(result, command, url)
    common.dump_json(Path(common.ROOT / "bench" / "results" / "rebuild.json"), result)
    return result


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _report(result: dict, command: str, url: str) -> None:
    offline, idle, during = result["offline"], result["idle"], result["during"]
    size = offline["log_size"]
    smoke = size < FULL_LOG
    ratio = during["p99_ms"] / idle["p99_ms"] if idle["p99_ms"] else float("nan")
    rows = [
        [
            "offline replay at 1.2M events >= 20,000 events/s",
            f"{offline['events_per_s']:,.0f} events/s ({size:,} events in {offline['seconds']:.1f} s)",
            _yes(not smoke and offline["events_per_s"] >= 20_000) if not smoke else "smoke run",
        ],
        [
            "ingest p99 during the online rebuild < 2x idle p99",
            f"{during['p99_ms']:.1f} ms vs {idle['p99_ms']:.1f} ms ({ratio:.2f}x)",
            _yes(ratio < 2) if not smoke else "smoke run",
        ],
        ["online rebuild equals an offline rebuild", "checksums of 5 tables", _yes(result["equal"])],
    ]

    def line(label: str, figures: dict) -> list[str]:
        return [
            label,
            f"{figures['events_per_s']:,.0f}",
            f"{figures['p50_ms']:.1f}",
            f"{figures['p99_ms']:.1f}",
        ]

    ingest = [
        line(f"maximum ({MAX_CLIENTS} clients, closed loop)", result["maximum"]),
        line(f"half of it, idle ({PACED_CLIENTS} paced clients, {IDLE_SECONDS} s)", idle),
        line(f"half of it, during the online rebuild ({during['seconds']:.0f} s)", during),
    ]
    heading = "## Rebuild, offline and online"
    if smoke:
        heading += f" (smoke run, {size:,} events: not the issue's 1.2M; figures not final)"
    body = (
        f"{heading}\n\n{result['posted']:,} events posted in-process (as for the context benchmark); the log "
        f"holds {size:,}. `rebuild_projections` (offline, every projection, appends wait) replayed it in "
        f"{offline['seconds']:.1f} s; again after the online run, {result['offline_after']['seconds']:.1f} s."
        "\n\nThen gunicorn and one subscription runner; single-event POSTs (latency from send to answer, ms):"
        "\n\n"
        + common.table(ingest, ["ingest", "events/s", "p50 ms", "p99 ms"])
        + f"\n\n`rebuild_projections --online customers threads` took {result['online_seconds']:.1f} s "
        f"under that load, its swap {result['swap_ms']} ms ({result['swap_attempts']} attempt(s)); the "
        "runner applied the live tables throughout. It ran at the lowest CPU priority in a scheduling group "
        "of its own (a session of its own, nice 19 and autogroup nice 19), as README recommends. The server "
        f"wrote {result['online_wal_mb']:,.0f} MB of WAL meanwhile and made {result['online_checkpoints']} "
        f"checkpoint(s) (THREADLINE_REBUILD_UNLOGGED={result['online_unlogged']}).\n\n"
        + common.table(rows, ["target", "measured", "met"])
    )
    common.write_section("rebuild", body, command, url)
    print(body)
