"""Context reads, the runner's replay of a backlog and the offline rebuild, on a seeded log.

Seeds the log through the ingestion service in-process (batches of 1,000, the same code as the batch API
minus HTTP), with three probe customers of exactly 10, 100 and 1,000 events among the traffic. No runner
runs meanwhile, so the read models (the subscriptions: customers, threads, presence, reachability, nba) are
left at position 0 with the whole log to apply: a subscription runner (`manage.py run_subscriptions`) is then
started and timed until it has applied it all, its RSS sampled every 0.2 s (the runner's replay). With the
read models caught up, it measures `GET /api/v1/context` for each probe through gunicorn (the runner beside
it, as in production), and then `manage.py rebuild_projections` (offline, every projection).
It posts 1,000,000 events, the issue's size (a log of about 1.2M with the hub's own events);
BENCH_CONTEXT_EVENTS=100000 makes a shorter run, BENCH_QUICK=1 a smoke run of 20,000.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

from tqdm import tqdm

from bench import common
from bench.traffic import Traffic

EVENTS = int(common.size("BENCH_CONTEXT_EVENTS", 1_000_000, 20_000))
PROBES = {10: "tel:+15559990010", 100: "tel:+15559990100", 1000: "tel:+15559991000"}
READS, ROUNDS, BATCH, WARM = 200, 3, 1000, 20


def _rss_self_mib() -> float:
    return common.rss_mib(os.getpid())


def _analyze() -> None:
    """Refresh the planner's statistics, as autovacuum would in production (CI machines may turn it off:
    this one does). A never-analysed table can make PostgreSQL choose a plan that grows with the table."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _seed(total: int) -> list[float]:
    """Ingest `total` events in-process; return this process's RSS after each tenth."""
    import django

    django.setup()
    from interactions.access.tokens import token_create
    from interactions.ingestion.pipeline import events_ingest

    token, _ = token_create(name="bench-seed", role="admin")
    traffic = Traffic(customers=20_000, source="/bench/seed")
    probe_events = [subject for n, subject in PROBES.items() for _ in range(n)]
    # Spread the probes' events through the log so their history is interleaved with everyone else's.
    stride = max(1, (total - len(probe_events)) // max(1, len(probe_events)))
    rss, written, probe_index = [], 0, 0
    with tqdm(total=total, desc="seeding", unit="event", disable=None, mininterval=1) as bar:
        while written < total:
            batch = []
            while len(batch) < BATCH and written + len(batch) < total:
                if probe_index < len(probe_events) and (written + len(batch)) % stride == 0:
                    event = traffic.event(written + len(batch))
                    batch.append({**event, "subject": probe_events[probe_index]})
                    probe_index += 1
                else:
                    batch.append(traffic.event(written + len(batch)))
            events_ingest(batch, token=token)
            written += len(batch)
            bar.update(len(batch))
            if written % max(1, total // 10) < BATCH:
                rss.append(_rss_self_mib())
                _analyze()
    if probe_index < len(probe_events):
        rest = probe_events[probe_index:]
        events_ingest([{**traffic.event(written + i), "subject": s} for i, s in enumerate(rest)], token=token)
    _settle()
    return rss


def _settle() -> None:
    """What a production server does on its own within minutes of a bulk load, before reads are measured:
    autovacuum's VACUUM ANALYZE (off on this CI machine) clears the dead versions of rows the seed rewrote
    and refreshes statistics, and a CHECKPOINT writes the seed's dirty pages, instead of the checkpointer
    doing it during the first round of reads."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")


def _get(url: str, token: str) -> float:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    elapsed = time.perf_counter() - started
    if not body["open_threads"] and not body["recently_resolved"]:
        raise common.BenchError("a probe customer has no threads: the seed went wrong")
    return elapsed


def _read(base: str, token: str, reads: dict[int, list[dict]]) -> None:
    for _ in range(ROUNDS):
        for n, subject in PROBES.items():
            target = f"{base}/api/v1/context?identifier={urllib.request.quote(subject)}"
            for _ in range(WARM):  # reach every gunicorn worker before timing: a cold one took 150 ms
                _get(target, token)
            latencies = [_get(target, token) for _ in range(READS)]
            reads[n].append(
                {
                    "p50": common.percentile(latencies, 50) * 1000,
                    "p99": common.percentile(latencies, 99) * 1000,
                }
            )


def _replay(url: str, runner: subprocess.Popen) -> dict:
    """Time a runner from its start until it has applied the whole log; its RSS every 0.2 s meanwhile."""
    import psycopg

    started = time.perf_counter()
    samples: list[float] = []
    with psycopg.connect(url, autocommit=True) as conn:
        backlog = common.subscription_positions(conn)[0]
        while True:
            if runner.poll() is not None:
                raise common.BenchError(f"the subscription runner exited with status {runner.returncode}")
            head, positions = common.subscription_positions(conn)
            samples.append(common.rss_mib(runner.pid))
            if positions and min(positions.values()) >= head:
                break
            time.sleep(0.2)
    seconds = time.perf_counter() - started
    samples = [v for v in samples if v > 0]
    return {
        "events": backlog,
        "seconds": seconds,
        "events_per_s": backlog / seconds,
        "rss": [samples[min(len(samples) - 1, i * len(samples) // 10)] for i in range(1, 11)],
        "peak_rss_mib": common.rss_mib(runner.pid, peak=True),
    }


def run(command: str) -> dict:
    url = common.scratch_database_url()
    os.environ["DATABASE_URL"] = url
    env = common.bench_env(url, DATABASE_CONN_MAX_AGE="60")
    common.manage(env, "migrate", "--no-input")
    started = time.perf_counter()
    rss = _seed(EVENTS)
    seed_seconds = time.perf_counter() - started
    token = common.create_token(env, "bench-reader", "supervisor")
    port = common.free_port()
    reads: dict[int, list[dict]] = {n: [] for n in PROBES}
    logs = common.ROOT / "bench" / "results" / "ctx-logs"
    with common.servers({"runner": common.runner()}, env, logs) as procs:
        replay = _replay(url, procs["runner"])
        _settle()  # the runner wrote the read models of the whole log: as after the seed
        with common.servers({"rest": common.gunicorn(port)}, env, logs):
            base = f"http://127.0.0.1:{port}"
            common.wait_ready(base)
            _read(base, token, reads)
    count = "from hub.models import StoredEvent; print(StoredEvent.objects.count())"
    counted = common.manage(env, "shell", "-c", count)
    log_size = int(counted.strip().splitlines()[-1])
    started = time.perf_counter()
    rebuild = subprocess.Popen(
        [str(common.BIN / "python"), "manage.py", "rebuild_projections", "--verbosity", "0"],
        cwd=common.ROOT,
        env=env,
    )
    rebuild_rss, samples = 0.0, []
    while rebuild.poll() is None:
        rebuild_rss = max(rebuild_rss, common.rss_mib(rebuild.pid, peak=True))  # VmHWM only grows
        samples.append(common.rss_mib(rebuild.pid))
        time.sleep(0.2)
    if rebuild.returncode != 0:
        raise common.BenchError("rebuild_projections failed")
    rebuild_seconds = time.perf_counter() - started
    samples = [v for v in samples if v > 0]  # the last poll may find the process gone
    tenths = [samples[min(len(samples) - 1, i * len(samples) // 10)] for i in range(1, 11)] if samples else []
    result = {
        "log_size": log_size,
        "seed_seconds": seed_seconds,
        "seed_rss": rss,
        "reads": reads,
        "replay": replay,
        "rebuild_seconds": rebuild_seconds,
        "rebuild_rss_mib": rebuild_rss,
        "rebuild_rss": tenths,
    }
    _report(result, command, url)
    common.dump_json(Path(common.ROOT / "bench" / "results" / "context.json"), result)
    return result


def _report(result: dict, command: str, url: str) -> None:
    rows = []
    worst_p99 = 0.0
    for n, rounds in result["reads"].items():
        p50, p99 = common.median([r["p50"] for r in rounds]), common.median([r["p99"] for r in rounds])
        worst_p99 = max(worst_p99, p99)
        rows.append([f"{n} events", f"{p50:.1f}", f"{p99:.1f}", ", ".join(f"{r['p99']:.1f}" for r in rounds)])
    rebuild_rate = result["log_size"] / result["rebuild_seconds"]
    rss, rebuilt = result["seed_rss"], result["rebuild_rss"]
    replay = result["replay"]
    replayed = replay["rss"]
    seed_rate = EVENTS / result["seed_seconds"]

    def met(ok: bool) -> str:
        return "yes" if ok else "**no**"

    size = result["log_size"]
    targets = [
        ["log of 1,000,000 events", f"{size:,}", met(size >= 1_000_000)],
        [
            "context p99 < 15 ms, flat from 10 to 1,000 events",
            f"worst {worst_p99:.1f} ms",
            met(worst_p99 < 15),
        ],
        [
            "rebuild (offline, every projection) >= 20,000 events/s",
            f"{rebuild_rate:,.0f} events/s",
            met(rebuild_rate >= 20_000),
        ],
        [
            "the runner's replay of the log >= 20,000 events/s (the same target, for the runner)",
            f"{replay['events_per_s']:,.0f} events/s",
            met(replay["events_per_s"] >= 20_000),
        ],
        [
            "runner RSS flat while it replays the log (first to last tenth, within 10%)",
            f"{replayed[0]:.0f} → {replayed[-1]:.0f} MiB" if replayed else "n/a",
            met(bool(replayed) and replayed[-1] <= replayed[0] * 1.1),
        ],
        [
            "seeding RSS flat",
            f"{rss[0]:.0f} → {rss[-1]:.0f} MiB" if rss else "n/a",
            met(rss and rss[-1] <= rss[0] * 1.1),
        ],
        [
            "rebuild RSS flat once its row allowance is full (fifth to last tenth)",
            f"{rebuilt[4]:.0f} → {rebuilt[-1]:.0f} MiB" if len(rebuilt) == 10 else "n/a",
            met(len(rebuilt) == 10 and rebuilt[-1] <= rebuilt[4] * 1.1),
        ],
    ]
    heading = "## Context reads, the runner's replay and the rebuild"
    if common.quick():
        heading += f" (smoke run, {EVENTS:,} events: not a result)"
    body = (
        f"{heading}\n\n{EVENTS:,} events posted in-process through the ingestion service "
        "in "
        f"batches of {BATCH:,} ({seed_rate:,.0f} posted events/s); with the hub's own customer and thread "
        f"events the log holds {result['log_size']:,}. Probe customers of "
        "exactly 10, 100 and 1,000 events interleaved with everyone else's. No runner ran during the seed: "
        "a subscription runner then applied the whole log to the read models (customers, threads, presence, "
        "reachability, nba) "
        f"from position 0 in {replay['seconds']:.1f} s ({replay['events_per_s']:,.0f} events/s, timed from "
        f"its start), peak RSS {replay['peak_rss_mib']:.0f} MiB; its RSS at each tenth of the replay: "
        f"{', '.join(f'{v:.0f}' for v in replayed)} MiB. Then `VACUUM ANALYZE` and "
        "`CHECKPOINT`, as autovacuum (off on this machine) and the checkpointer would within minutes. "
        "`GET /api/v1/context` through "
        f"gunicorn (the runner beside it), {READS} reads per probe per round, latency in ms:\n\n"
        + common.table(rows, ["customer", "p50 ms", "p99 ms", "p99 per round"])
        + f"\n\n`rebuild_projections` replayed the log in {result['rebuild_seconds']:.1f} s "
        f"({rebuild_rate:,.0f} events/s), peak RSS {result['rebuild_rss_mib']:.0f} MiB; its RSS at each tenth"
        f" of the run: {', '.join(f'{v:.0f}' for v in rebuilt)} MiB (it keeps a bounded number of rows"
        " between pages, so it grows until that allowance is full). RSS of the seeding "
        f"process at each tenth: {', '.join(f'{v:.0f}' for v in rss)} MiB.\n\n"
        + common.table(targets, ["target", "measured", "met"])
    )
    common.write_section("context", body, command, url)
    print(body)
