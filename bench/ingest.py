"""Ingest: the hub over HTTP beside the database's raw ceiling and the pyeventsourcing peer, in one run.

(a) one event per request, 16 concurrent clients; (b) batches of 500, 4 concurrent clients; both through
gunicorn, with a subscription runner applying the read models beside it as in production. After each of the
hub's measures the benchmark waits for the runner to apply everything, so that its backlog never takes CPU
from the next measure (the peer and the ceiling would look slower). Raw ceiling: the same rows inserted by
psycopg into a scratch table, one transaction per event (8 threads) and 500 per transaction. Peer:
pyeventsourcing's PostgreSQL application recorder appending the same events in-process, one per save (4
threads) and 100 per save. Every figure is the median of three rounds. Smaller: BENCH_INGEST_ROUNDS,
BENCH_INGEST_SECONDS (the single-event measure's length), or BENCH_QUICK=1 (one round of 3 s).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

import environ
import psycopg
from tqdm import tqdm

from bench import common
from bench.rows import RAW_INSERT, RAW_TABLE, raw_row
from bench.traffic import Traffic
from hub import holds

ROUNDS = int(common.size("BENCH_INGEST_ROUNDS", 3, 1))
SINGLE_CLIENTS, SINGLE_SECONDS = 16, common.size("BENCH_INGEST_SECONDS", 8, 3)
BATCH, BATCH_CLIENTS, BATCHES = 500, 4, 8
RAW_SINGLE, RAW_THREADS, RAW_BATCHES = 2000, 8, 20
PEER_SINGLE, PEER_THREADS, PEER_BATCH, PEER_BATCHES = 2000, 4, 100, 100


def _post(base: str, token: str, events: list[dict]) -> None:
    batch = len(events) > 1
    request = urllib.request.Request(
        f"{base}/api/v1/events",
        data=json.dumps(events if batch else events[0]).encode(),
        headers={
            "Content-Type": "application/cloudevents-batch+json" if batch else "application/cloudevents+json",
            "Authorization": f"Bearer {token}",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        if response.status != 201:
            raise common.BenchError(f"the hub answered {response.status}")


def _threads(count: int, work: Callable[[int], None]) -> float:
    """Run work(i) in `count` threads; return the elapsed seconds."""
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            work(i)
        except BaseException as exc:  # re-raised below, so a failed round is never reported as a figure
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - start


class Poster:
    """Single-event POSTs from `clients` threads until `until()` is true: closed loop (as fast as they can),
    or paced at `rate` events/s in all. Event ids start after `first_id`, so runs never repeat one."""

    def __init__(self, base: str, token: str, traffic: Traffic, *, first_id: int) -> None:
        self.base, self.token, self.traffic = base, token, traffic
        self.lock = threading.Lock()
        self.count = first_id

    def _event(self) -> dict:
        with self.lock:
            self.count += 1
            return self.traffic.event(self.count)

    def run(self, clients: int, until: Callable[[], bool], rate: float | None = None) -> dict:
        latencies: list[float] = []
        started = time.perf_counter()
        interval = clients / rate if rate else 0.0

        def client(i: int) -> None:
            due = started + i * interval / clients
            while not until():
                if rate:
                    if (wait := due - time.perf_counter()) > 0:
                        time.sleep(wait)
                    due += interval
                event = self._event()
                sent = time.perf_counter()
                _post(self.base, self.token, [event])
                with self.lock:
                    latencies.append(time.perf_counter() - sent)

        elapsed = _threads(clients, client)
        return {
            "events": len(latencies),
            "seconds": elapsed,
            "events_per_s": len(latencies) / elapsed,
            "p50_ms": common.percentile(latencies, 50) * 1000,
            "p99_ms": common.percentile(latencies, 99) * 1000,
        }


def for_seconds(seconds: float) -> Callable[[], bool]:
    """An `until` for Poster.run: true once `seconds` have passed."""
    deadline = time.perf_counter() + seconds
    return lambda: time.perf_counter() >= deadline


def hub_single(base: str, token: str, traffic: Traffic) -> dict:
    latencies: list[float] = []
    deadline = time.perf_counter() + SINGLE_SECONDS
    lock = threading.Lock()

    def client(i: int) -> None:
        while time.perf_counter() < deadline:
            with lock:
                event = traffic.event(len(latencies) + i * 1_000_000)
            started = time.perf_counter()
            _post(base, token, [event])
            with lock:
                latencies.append(time.perf_counter() - started)

    elapsed = _threads(SINGLE_CLIENTS, client)
    return _figures(len(latencies), elapsed, latencies)


def hub_batch(base: str, token: str, traffic: Traffic) -> dict:
    batches = [traffic.events(BATCH, offset=10_000_000 + i * BATCH) for i in range(BATCHES)]
    latencies: list[float] = []

    def client(i: int) -> None:
        for batch in batches[i::BATCH_CLIENTS]:
            started = time.perf_counter()
            _post(base, token, batch)
            latencies.append(time.perf_counter() - started)

    elapsed = _threads(BATCH_CLIENTS, client)
    return _figures(BATCH * BATCHES, elapsed, latencies)


def _figures(events: int, elapsed: float, latencies: list[float]) -> dict:
    return {
        "events": events,
        "events_per_s": events / elapsed,
        "p50_ms": common.percentile(latencies, 50) * 1000 if latencies else None,
        "p99_ms": common.percentile(latencies, 99) * 1000 if latencies else None,
    }


def raw_single(url: str, traffic: Traffic) -> dict:
    events = traffic.events(RAW_SINGLE, offset=20_000_000)

    def writer(i: int) -> None:
        with psycopg.connect(url) as conn:
            for event in events[i::RAW_THREADS]:
                with conn.transaction():
                    conn.execute(RAW_INSERT, raw_row(event))

    return _figures(len(events), _threads(RAW_THREADS, writer), [])


def raw_batch(url: str, traffic: Traffic) -> dict:
    batches = [traffic.events(BATCH, offset=30_000_000 + i * BATCH) for i in range(RAW_BATCHES)]

    def writer(_: int) -> None:
        with psycopg.connect(url) as conn:
            for batch in batches:
                with conn.transaction(), conn.cursor() as cursor:
                    cursor.executemany(RAW_INSERT, [raw_row(e) for e in batch])

    return _figures(BATCH * RAW_BATCHES, _threads(1, writer), [])


def _peer(url: str, pool_size: int):
    from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

    config = environ.Env.db_url_config(url)
    datastore = PostgresDatastore(
        dbname=config["NAME"],
        host=config["HOST"] or "127.0.0.1",
        port=config["PORT"] or 5432,
        user=config["USER"],
        password=config.get("PASSWORD") or "",
        pool_size=pool_size,
    )
    recorder = PostgresApplicationRecorder(datastore)
    recorder.create_table()
    return recorder


def _stored(event: dict):
    from eventsourcing.persistence import StoredEvent

    return StoredEvent(
        originator_id=uuid.uuid4(),
        originator_version=1,
        topic=f"threadline:{event['type']}",
        state=json.dumps(event).encode(),
    )


def peer_single(url: str, traffic: Traffic) -> dict:
    recorder = _peer(url, PEER_THREADS)
    events = [_stored(e) for e in traffic.events(PEER_SINGLE, offset=40_000_000)]

    def writer(i: int) -> None:
        for event in events[i::PEER_THREADS]:
            recorder.insert_events([event])

    return _figures(len(events), _threads(PEER_THREADS, writer), [])


def peer_batch(url: str, traffic: Traffic) -> dict:
    recorder = _peer(url, 1)
    batches = [
        [_stored(e) for e in traffic.events(PEER_BATCH, offset=50_000_000 + i * PEER_BATCH)]
        for i in range(PEER_BATCHES)
    ]

    def writer(_: int) -> None:
        for batch in batches:
            recorder.insert_events(batch)

    return _figures(PEER_BATCH * PEER_BATCHES, _threads(1, writer), [])


def floor_single(base: str, token: str, traffic: Traffic) -> dict:
    """The Django floor (bench/floor.py) under the hub's single-event load: same clients, same gunicorn."""
    return hub_single(base, token, traffic)


MEASURES = {
    "hub_single": ("hub over HTTP, 1 event per request, 16 clients", hub_single),
    "hub_batch": ("hub over HTTP, 500 per request, 4 clients", hub_batch),
    "floor_single": ("Django floor over HTTP (bench/floor.py), 1 row per request, 16 clients", floor_single),
    "raw_single": ("raw psycopg, 1 event per transaction, 8 threads", raw_single),
    "raw_batch": ("raw psycopg, 500 per transaction", raw_batch),
    "peer_single": ("pyeventsourcing recorder, 1 event per save, 4 threads", peer_single),
    "peer_batch": ("pyeventsourcing recorder, 100 per save", peer_batch),
}


def run(command: str) -> dict:
    common.require_postgresql()
    common.require_extra("eventsourcing")  # the peer, measured last in each round: refuse before the run
    url = common.scratch_database_url()
    holds_dir = common.ROOT / "bench" / "results" / "holds"
    holds_dir.mkdir(parents=True, exist_ok=True)
    hold_log = str(holds_dir / "append")
    holds.read(hold_log)  # what an earlier run left
    env = common.bench_env(url, DATABASE_CONN_MAX_AGE="60", THREADLINE_APPEND_HOLD_LOG=hold_log)
    common.manage(env, "migrate", "--no-input")
    token = common.create_token(env, "bench-ingest", "admin")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(RAW_TABLE)
    port, floor_port = common.free_port(), common.free_port()
    specs = {
        "rest": common.gunicorn(port),
        "runner": common.runner(),
        "floor": common.gunicorn(floor_port, "bench.floor_wsgi:application"),
    }
    base, floor = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{floor_port}"
    traffic = Traffic()
    results: dict[str, list[dict]] = {name: [] for name in MEASURES}
    waits: list[float] = []  # seconds the runner took to apply the log after each of the hub's measures
    with common.servers(specs, env, common.ROOT / "bench" / "results" / "ingest-logs") as procs:
        common.wait_ready(base)
        common.wait_ready(floor)
        steps = [(n, name) for n in range(ROUNDS) for name in MEASURES]
        for _, name in tqdm(steps, desc="ingest", unit="step", disable=None, mininterval=1):
            fn = MEASURES[name][1]
            if name.startswith("hub"):
                holds.read(hold_log)  # the hub's own appends before this measure (its token, say)
            if name == "hub_single":
                checkpointed = _checkpoint(url)  # statistics and the last round's rows written out first
                results[name].append(_with_cpu(procs, lambda fn=fn: fn(base, token, traffic)))
                results[name][-1]["checkpointed"] = checkpointed
            elif name.startswith("hub"):
                results[name].append(fn(base, token, traffic))
            elif name == "floor_single":
                results[name].append(fn(floor, token, traffic))
            else:
                results[name].append(fn(url, traffic))
            if name.startswith("hub"):
                results[name][-1]["holds"] = _holds(holds.read(hold_log))
                waits.append(common.wait_caught_up(url, procs["runner"]))
        peak = common.rss_mib(procs["rest"].pid, peak=True)
    summary = _report(results, peak, command, url, waits=waits)
    result = {"rounds": results, "waits": waits, **summary}
    common.dump_json(Path(common.ROOT / "bench" / "results" / "ingest.json"), result)
    return summary


def _checkpoint(url: str) -> bool:
    """Between rounds, what autovacuum and the checkpointer would have done by then in production (this
    machine's server runs with autovacuum off): planner statistics for the tables the earlier rounds grew,
    and their rows written out, so neither a stale plan nor the checkpointer is counted against the next
    measure. Whether the CHECKPOINT ran (it needs a superuser; without it the figures include the
    checkpointer's work)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")
        try:
            conn.execute("CHECKPOINT")
        except psycopg.Error:
            return False
    return True


def _with_cpu(procs: dict, measure: Callable[[], dict]) -> dict:
    """The measure's figures with the CPU each part spent per request (ms): the REST workers, the runner,
    PostgreSQL (every process of a server on this machine, so its background writers too; none when it runs
    elsewhere) and this load generator. On two busy cores they add up to about 2,000 / events per second.
    The processes are listed again at the end, so one started meanwhile (a new database connection)
    counts; one that ended meanwhile is left out."""
    groups = {
        "web": lambda: common.with_children(procs["rest"].pid),
        "runner": lambda: common.with_children(procs["runner"].pid),
        "postgres": common.postgres_pids,
    }
    before = {name: common.cpu_seconds(pids()) for name, pids in groups.items()}
    load_before = time.process_time()
    figures = measure()
    load = time.process_time() - load_before
    spent = {
        name: common.cpu_spent(before[name], common.cpu_seconds(pids())) for name, pids in groups.items()
    }
    spent["load generator"] = load
    requests = max(1, figures["events"])
    figures["cpu_ms"] = {name: seconds * 1000 / requests for name, seconds in spent.items()}
    return figures


def _cpu_rows(rounds: list[dict]) -> list[list[str]]:
    measured = [r["cpu_ms"] for r in rounds if "cpu_ms" in r]
    if not measured:
        return []
    rows = []
    for name in measured[0]:
        values = sorted(m[name] for m in measured)
        rows.append([name, f"{values[len(values) // 2]:.2f}", ", ".join(f"{m[name]:.2f}" for m in measured)])
    totals = sorted(sum(m.values()) for m in measured)
    each = ", ".join(f"{sum(m.values()):.2f}" for m in measured)
    rows.append(["all", f"{totals[len(totals) // 2]:.2f}", each])
    return rows


def _holds(noted: dict[str, list[float]]) -> dict:
    """The append lock's hold in the REST workers during one measure: p50 and p99 in ms, per path."""
    return {
        path: {
            "appends": len(seconds),
            "p50_ms": common.percentile(seconds, 50) * 1000,
            "p99_ms": common.percentile(seconds, 99) * 1000,
        }
        for path, seconds in noted.items()
    }


def _hold_rows(results: dict) -> list[list[str]]:
    rows = []
    for name in ("hub_single", "hub_batch"):
        for path in ("lean", "locked"):
            rounds = [r["holds"][path] for r in results[name] if path in r.get("holds", {})]
            if rounds:
                rows.append(
                    [
                        MEASURES[name][0],
                        path,
                        str(sum(r["appends"] for r in rounds)),
                        f"{common.median([r['p50_ms'] for r in rounds]):.2f}",
                        f"{common.median([r['p99_ms'] for r in rounds]):.2f}",
                    ]
                )
    return rows


def _median(rounds: list[dict], key: str) -> float | None:
    values = [r[key] for r in rounds if r[key] is not None]
    return common.median(values) if values else None


def _report(results: dict, peak: float, command: str, url: str, *, waits: list[float] = ()) -> dict:
    med = {name: _median(rounds, "events_per_s") for name, rounds in results.items()}
    rows = []
    for name, (label, _) in MEASURES.items():
        p50, p99 = _median(results[name], "p50_ms"), _median(results[name], "p99_ms")
        per_round = ", ".join(f"{r['events_per_s']:.0f}" for r in results[name])
        rows.append(
            [
                label,
                f"**{med[name]:.0f}**",
                per_round,
                "" if p50 is None else f"{p50:.0f}",
                "" if p99 is None else f"{p99:.0f}",
            ]
        )
    single_p99 = _median(results["hub_single"], "p99_ms")
    single_ratio, batch_ratio = med["hub_single"] / med["peer_single"], med["hub_batch"] / med["peer_batch"]
    # Issue 14's targets (aim: 1.0x of the peer for both).
    targets = [
        [
            "1 event per request >= 0.5x the peer's one-event saves, p99 < 50 ms",
            f"{single_ratio:.2f}x ({med['hub_single']:.0f} vs {med['peer_single']:.0f} events/s),"
            f" p99 {single_p99:.0f} ms",
            _yes(single_ratio >= 0.5 and single_p99 < 50),
        ],
        [
            "batches of 500 >= 0.6x the peer's 100-event saves",
            f"{batch_ratio:.2f}x ({med['hub_batch']:.0f} vs {med['peer_batch']:.0f} events/s)",
            _yes(batch_ratio >= 0.6),
        ],
    ]
    ratios = [
        ["Django floor / peer single", f"{med['floor_single'] / med['peer_single']:.3f}"],
        ["hub single / Django floor", f"{med['hub_single'] / med['floor_single']:.3f}"],
        ["hub single / raw single", f"{med['hub_single'] / med['raw_single']:.3f}"],
        ["hub single / peer single", f"{med['hub_single'] / med['peer_single']:.3f}"],
        ["hub batch / raw batch", f"{med['hub_batch'] / med['raw_batch']:.3f}"],
        ["hub batch / peer batch", f"{med['hub_batch'] / med['peer_batch']:.3f}"],
    ]
    body = (
        "## Ingest\n\nEvents shaped like contact-centre traffic (`bench/traffic.py`: mixed channels and "
        "types, texts of 8-120 words, 3,000 customers with repeat contacts, 1% with a card number to "
        "redact). "
        "The hub runs under gunicorn (4 sync workers) with one subscription runner applying the read models "
        "(customers, threads, presence, reachability, nba) as in production; after each of the hub's "
        "measures the benchmark "
        "waits for the runner to apply everything before the next measure"
        + (f" (it took {max(waits):.1f} s at most)" if waits else "")
        + ". The raw ceiling and the peer write the same events to the same PostgreSQL in the same run. The "
        f"load generator shares the machine's two cores with the servers and PostgreSQL. {ROUNDS} round(s)"
        + (" (a smoke run: not a result)" if ROUNDS < 3 or SINGLE_SECONDS < 8 else "")
        + ".\n\n"
        + common.table(rows, ["measure", "events/s (median)", "rounds", "p50 ms", "p99 ms"])
        + "\n\n"
        + common.table(ratios, ["ratio", "value"])
        + "\n\n"
        + common.table(targets, ["target", "measured", "met"])
        + "\n\nThe global append lock's hold in the REST workers (hub.holds: from the moment the database "
        "granted it, by its clock, to the COMMIT's answer back in the worker; `lean` appends decide "
        "everything before it, `locked` ones (a collision with a concurrent append, decided again) take it "
        "first; medians of the rounds' percentiles):\n\n"
        + common.table(_hold_rows(results), ["measure", "path", "appends", "hold p50 ms", "hold p99 ms"])
        + _cpu_text(results["hub_single"], med["hub_single"])
        + f"\n\nPeak RSS of the REST server (4 workers): {peak:.0f} MiB."
    )
    common.write_section("ingest", body, command, url)
    print(body)
    return {"medians": med}


def _cpu_text(rounds: list[dict], rate: float) -> str:
    rows = _cpu_rows(rounds)
    if not rows:
        return ""
    checkpoint = (
        ""
        if all(r.get("checkpointed") for r in rounds)
        else " A CHECKPOINT before a round was refused (not a superuser): the checkpointer's work counts."
    )
    return (
        "\n\nWhere a single-event request's CPU goes (ms per request, from /proc: user and system time of "
        "the REST workers, the runner, every PostgreSQL process and the load generator over the measure; "
        f"two busy cores allow about {2000 / rate:.2f} ms a request at the median rate).{checkpoint}\n\n"
        + common.table(rows, ["part", "ms per request (median)", "rounds"])
    )


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"
