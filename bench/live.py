"""Live delivery: 200 sockets subscribed across customers, 200 events/s posted over REST.

Two ways of posting the same 200 events/s: one event per request (what the hub's single-request ingest rate
caps, see the ingest benchmark), and requests of 10 events (as a gateway that batches would post).

Latency is measured from the moment the POST's response arrives to the moment the socket receives the event,
both clocks in this process. Also counts events lost or received twice (both must be 0), and the websocket
server's memory with 1,000 idle sockets.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm
from websockets.asyncio.client import connect

from bench import common

SOCKETS = 200
RATE = 200  # events per second
SECONDS = int(common.size("BENCH_LIVE_SECONDS", 10, 4))
ROUNDS = int(common.size("BENCH_LIVE_ROUNDS", 3, 1))
IDLE_SOCKETS = int(common.size("BENCH_LIVE_IDLE_SOCKETS", 1000, 200))
BATCHES = tuple(int(b) for b in os.environ.get("BENCH_LIVE_BATCHES", "1,10").split(","))  # events per request


def _post(base: str, token: str, events: list[dict]) -> list[dict]:
    request = urllib.request.Request(
        f"{base}/api/v1/events",
        data=json.dumps(events).encode(),
        headers={"Content-Type": "application/cloudevents-batch+json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["results"]


def _event(event_id: str, subject: str) -> dict:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "/bench/live",
        "type": "message.received",
        "subject": subject,
        "data": {"channel": "chat", "text": "Is my order on its way? It was due yesterday."},
    }


async def _client(
    url: str,
    customer_id: str,
    received: dict[str, list[float]],
    ready: asyncio.Event,
    ready_count: list[int],
    total: int,
) -> None:
    async with connect(url, max_queue=None) as ws:
        await ws.send(json.dumps({"op": "subscribe", "topics": [f"customer:{customer_id}"], "after": None}))
        first = json.loads(await ws.recv())
        assert first["op"] == "caught_up", first
        ready_count[0] += 1
        if ready_count[0] == total:
            ready.set()
        async for message in ws:
            now = time.perf_counter()
            frame = json.loads(message)
            if frame["op"] == "event":
                received.setdefault(frame["event"]["id"], []).append(now)


async def _round(
    number: int,
    batch: int,
    base: str,
    token: str,
    subjects: list[str],
    received: dict[str, list[float]],
    pool: ThreadPoolExecutor,
) -> dict:
    loop = asyncio.get_running_loop()
    responded: dict[str, float] = {}
    total = RATE * SECONDS // batch  # requests
    interval = batch / RATE
    start = time.perf_counter()
    pending = []

    async def post_one(i: int) -> None:
        ids = [f"b{batch}-r{number}-{i}-{k}" for k in range(batch)]
        events = [
            _event(event_id, subjects[(i * batch + k) % len(subjects)]) for k, event_id in enumerate(ids)
        ]
        await loop.run_in_executor(pool, _post, base, token, events)
        now = time.perf_counter()
        for event_id in ids:
            responded[event_id] = now

    with tqdm(
        total=total, desc=f"round {number}", unit="request", leave=False, disable=None, mininterval=1
    ) as bar:
        for i in range(total):
            delay = start + i * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(post_one(i))
            task.add_done_callback(lambda _: bar.update())
            pending.append(task)
        await asyncio.gather(*pending)
    elapsed = time.perf_counter() - start
    deadline = time.perf_counter() + 10
    while time.perf_counter() < deadline and not all(k in received for k in responded):
        await asyncio.sleep(0.05)
    latencies = [(received[k][0] - t) * 1000 for k, t in responded.items() if k in received]
    return {
        "posted": len(responded),
        "rate": len(responded) / elapsed,
        "lost": sum(1 for k in responded if k not in received),
        "duplicated": sum(1 for k in responded if len(received.get(k, [])) > 1),
        "early": sum(1 for v in latencies if v < 0),
        "p50": common.percentile([max(v, 0) for v in latencies], 50),
        "p99": common.percentile([max(v, 0) for v in latencies], 99),
    }


async def _idle(url: str, customer_id: str, count: int) -> list:
    sockets = []
    for _ in tqdm(range(count), desc="idle sockets", unit="socket", leave=False, disable=None, mininterval=1):
        ws = await connect(url)
        await ws.send(json.dumps({"op": "subscribe", "topics": [f"customer:{customer_id}"], "after": None}))
        await ws.recv()
        sockets.append(ws)
    return sockets


async def _scenario(
    rest: str, ws_url: str, token: str, customers: list[tuple[str, str]], ws_pid: int
) -> dict:
    received: dict[str, list[float]] = {}
    ready, ready_count = asyncio.Event(), [0]
    clients = [
        asyncio.create_task(_client(ws_url, customer_id, received, ready, ready_count, len(customers)))
        for _, customer_id in customers
    ]
    await asyncio.wait_for(ready.wait(), 60)
    subjects = [subject for subject, _ in customers]
    modes = {}
    with ThreadPoolExecutor(max_workers=32) as pool:
        for batch in BATCHES:
            modes[batch] = [
                await _round(n + 1, batch, rest, token, subjects, received, pool) for n in range(ROUNDS)
            ]
    for client in clients:
        client.cancel()
    await asyncio.gather(*clients, return_exceptions=True)
    await asyncio.sleep(1)
    before = common.rss_mib(ws_pid)
    idle = await _idle(ws_url, customers[0][1], IDLE_SOCKETS)
    await asyncio.sleep(2)
    with_idle = common.rss_mib(ws_pid)
    for ws in idle:
        await ws.close()
    return {"modes": modes, "rss_before_idle": before, "rss_with_idle": with_idle}


def run(command: str) -> dict:
    url = common.scratch_database_url()
    env = common.bench_env(url, DATABASE_CONN_MAX_AGE="60")
    common.manage(env, "migrate", "--no-input")
    admin = common.create_token(env, "bench-poster", "admin")
    supervisor = common.create_token(env, "bench-desk", "supervisor")
    rest_port, ws_port = common.free_port(), common.free_port()
    specs = {
        # REST as production runs it: WSGI sync workers, persistent connections (docs/benchmarks.md).
        "rest": common.gunicorn(rest_port),
        "ws": common.uvicorn(ws_port),
        "runner": common.runner(),  # the read models' runner, as production runs it beside the servers
    }
    rest = f"http://127.0.0.1:{rest_port}"
    with common.servers(specs, env, common.ROOT / "bench" / "results" / "live-logs") as procs:
        common.wait_ready(rest)
        common.wait_ready(f"http://127.0.0.1:{ws_port}")
        subjects = [f"tel:+1555300{i:04d}" for i in range(SOCKETS)]
        seeded = _post(rest, admin, [_event(f"seed-{i}", s) for i, s in enumerate(subjects)])
        customers = list(zip(subjects, [r["customer_id"] for r in seeded], strict=True))
        result = asyncio.run(
            _scenario(
                rest,
                f"ws://127.0.0.1:{ws_port}/ws/v1/agent?token={supervisor}",
                admin,
                customers,
                procs["ws"].pid,
            )
        )
        result["peak_rss"] = {name: common.rss_mib(p.pid, peak=True) for name, p in procs.items()}
    _report(result, command, url)
    return result


def _report(result: dict, command: str, url: str) -> None:
    rows, verdicts, early = [], [], 0
    for batch, rounds in result["modes"].items():
        label = "1 event per request" if batch == 1 else f"{batch} events per request"
        p50, p99 = common.median([r["p50"] for r in rounds]), common.median([r["p99"] for r in rounds])
        lost, duplicated = sum(r["lost"] for r in rounds), sum(r["duplicated"] for r in rounds)
        rate = common.median([r["rate"] for r in rounds])
        early += sum(r["early"] for r in rounds)
        rows += [
            [
                label,
                f"round {i + 1}",
                r["posted"],
                f"{r['rate']:.0f}",
                f"{r['p50']:.1f}",
                f"{r['p99']:.1f}",
                r["lost"],
                r["duplicated"],
            ]
            for i, r in enumerate(rounds)
        ]
        rows.append(
            [label, "**median**", "", f"**{rate:.0f}**", f"**{p50:.1f}**", f"**{p99:.1f}**", f"**{lost}**",
             f"**{duplicated}**"]
        )  # fmt: skip
        verdicts += [
            [
                f"{label}: {RATE} events/s posted",
                f"{rate:.0f} events/s",
                _verdict(all(r["rate"] >= RATE * 0.95 for r in rounds)),
            ],
            [
                f"{label}: p99 delivery latency < 100 ms (then 50)",
                f"{p99:.1f} ms",
                _verdict(p99 < 100 and all(r["rate"] >= RATE * 0.95 for r in rounds)),
            ],
            [
                f"{label}: lost or duplicated = 0",
                f"{lost} / {duplicated}",
                _verdict(lost == 0 and duplicated == 0),
            ],
        ]
    verdicts.append(
        [
            f"websocket server RSS with {IDLE_SOCKETS} idle sockets < 300 MiB",
            f"{result['rss_with_idle']:.0f} MiB (before: {result['rss_before_idle']:.0f} MiB)",
            _verdict(result["rss_with_idle"] < 300),
        ]
    )
    body = (
        f"## Live delivery\n\n{SOCKETS} sockets on one uvicorn process, each subscribed to one customer; "
        f"{RATE} events/s offered by 32 client threads to gunicorn (4 sync workers; a subscription runner "
        f"beside them), {SECONDS} s per round, "
        "first one event per request, then 10 events per request (the rate reached is what the hub "
        "sustained; a latency counts only where the rate was reached). "
        "Latency: POST response to receipt on the socket, in ms (an event received before its POST's "
        f"response counts as 0; {early} did).\n\n"
        + common.table(
            rows, ["posting", "round", "events", "posted/s", "p50 ms", "p99 ms", "lost", "duplicated"]
        )
        + "\n\n"
        + common.table(verdicts, ["target", "measured", "met"])
        + "\n\nPeak RSS per server process (with its workers): "
        + ", ".join(f"{k} {v:.0f} MiB" for k, v in result["peak_rss"].items())
        + "."
    )
    common.write_section("live", body, command, url)
    common.dump_json(Path(common.ROOT / "bench" / "results" / "live.json"), result)
    print(body)


def _verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"
