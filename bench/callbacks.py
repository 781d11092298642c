"""Callbacks: 1,000 callbacks due in the same minute, 20 agents available on websockets.

The hub runs as in production: gunicorn for REST, uvicorn for websockets, a subscription runner (the
dispatcher offers a callback only once the read models have applied its request), a Celery worker (2
processes) and beat on Redis. The callbacks are requested over REST with `at` spread evenly over one minute
that starts after they are all in. Each agent is a real websocket client: subscribed to `agent:me`, available,
and it accepts every offer it receives and reports it completed at once (a call that takes no time), so what
is measured is the hub's own delay. Lateness is the offer's commit time (`recorded_at` of `callback.offered`)
minus its `due_at`, and the agent's receipt time minus `due_at`; duplicates are offers beyond one per callback
and attempt (must be 0), and every callback must end completed.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from tqdm import tqdm
from websockets.asyncio.client import connect

from bench import common

CALLBACKS = int(common.size("BENCH_CALLBACKS", 1000, 200))
AGENTS = 20
ROUNDS = int(common.size("BENCH_CALLBACK_ROUNDS", 3, 1))
SPREAD = 60.0  # seconds over which the callbacks fall due
BROKER = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/2")


def _request(base: str, token: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{base}/api/v1/callbacks",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def _tokens(env: dict[str, str]) -> tuple[str, list[str]]:
    """An integration token and AGENTS agent tokens, made in one Django process."""
    script = (
        "from interactions.access.tokens import token_create\n"
        "print(token_create(name='bench-ivr', role='integration', source_prefix='/bench/')[1])\n"
        f"for i in range({AGENTS}):\n"
        "    print(token_create(name=f'bench-agent-{i}', role='agent', skills=['billing'])[1])\n"
    )
    lines = common.manage(env, "shell", "-c", script).strip().splitlines()
    return lines[-AGENTS - 1], lines[-AGENTS:]


async def _agent(url: str, received: dict[str, list[float]], errors: list[dict], ready: list[int]) -> None:
    async with connect(url, max_queue=None) as ws:
        await ws.send(json.dumps({"op": "subscribe", "topics": ["agent:me"], "after": None}))
        await ws.send(json.dumps({"op": "status", "value": "available"}))
        ready[0] += 1
        async for message in ws:
            frame = json.loads(message)
            if frame["op"] == "error":
                errors.append(frame)
            if frame["op"] != "event" or frame["event"]["type"] != "callback.offered":
                continue
            data = frame["event"]["data"]
            received.setdefault(f"{data['callback_id']}/{data['attempt']}", []).append(time.time())
            await ws.send(json.dumps({"op": "accept", "callback_id": data["callback_id"]}))
            await ws.send(
                json.dumps({"op": "outcome", "callback_id": data["callback_id"], "outcome": "completed"})
            )


def _round(number: int, rest: str, integration: str, db_url: str, received: dict[str, list[float]]) -> dict:
    # Leave time to post them all (at the rate the hub takes requests) before the first falls due.
    start = datetime.now(UTC) + timedelta(seconds=max(30.0, CALLBACKS / 25))
    bodies = [
        {
            "identifier": f"tel:+1555{number}{i:06d}",
            "phone": f"+1555{number}{i:06d}",
            "reason": "billing question",
            "topic": "billing",
            "at": (start + timedelta(seconds=SPREAD * i / CALLBACKS)).isoformat(),
        }
        for i in range(CALLBACKS)
    ]
    with (
        ThreadPoolExecutor(max_workers=8) as pool,
        tqdm(
            total=CALLBACKS, desc=f"round {number}: request", unit="callback", disable=None, leave=False
        ) as bar,
    ):
        ids = []
        for result in pool.map(lambda body: _request(rest, integration, body), bodies):
            ids.append(result["id"])
            bar.update()
    if datetime.now(UTC) > start:
        raise common.BenchError("requesting the callbacks took longer than planned; lower BENCH_CALLBACKS")
    wait_until = start + timedelta(seconds=SPREAD + 120)
    with psycopg.connect(db_url, autocommit=True) as conn:
        with tqdm(total=CALLBACKS, desc=f"round {number}: completed", unit="callback", disable=None) as bar:
            done = 0
            while datetime.now(UTC) < wait_until and done < CALLBACKS:
                time.sleep(0.5)
                now_done = conn.execute(
                    "SELECT count(*) FROM interactions_callback WHERE id = ANY(%s) AND state = 'completed'",
                    [ids],
                ).fetchone()[0]
                bar.update(now_done - done)
                done = now_done
        rows = conn.execute(
            "SELECT s.stream, (o.data->>'attempt')::int, (s.data->>'due_at')::timestamptz, o.recorded_at"
            " FROM hub_event s JOIN hub_event o ON o.stream = s.stream AND o.type = 'callback.offered'"
            " AND o.data->'attempt' = s.data->'attempt'"
            " WHERE s.type = 'callback.scheduled' AND s.stream = ANY(%s)",
            [[f"callback-{i}" for i in ids]],
        ).fetchall()
        states = Counter(
            s
            for (s,) in conn.execute(
                "SELECT state FROM interactions_callback WHERE id = ANY(%s)", [ids]
            ).fetchall()
        )
    per_attempt = Counter((stream, attempt) for stream, attempt, _, _ in rows)
    committed = [(recorded - due).total_seconds() for _, _, due, recorded in rows]
    receipt = [
        received[f"{stream.removeprefix('callback-')}/{attempt}"][0] - due.timestamp()
        for stream, attempt, due, _ in rows
        if f"{stream.removeprefix('callback-')}/{attempt}" in received
    ]
    return {
        "callbacks": CALLBACKS,
        "offered": len(per_attempt),
        "duplicates": sum(n - 1 for n in per_attempt.values()),
        "completed": states.get("completed", 0),
        "states": dict(states),
        "p50": common.percentile(committed, 50),
        "p99": common.percentile(committed, 99),
        "max": max(committed, default=float("nan")),
        "receipt_p50": common.percentile(receipt, 50),
        "receipt_p99": common.percentile(receipt, 99),
    }


async def _scenario(rest: str, ws: str, integration: str, agents: list[str], db_url: str) -> dict:
    received: dict[str, list[float]] = {}
    errors: list[dict] = []
    ready = [0]
    clients = [
        asyncio.create_task(_agent(f"{ws}?token={token}", received, errors, ready)) for token in agents
    ]
    while ready[0] < len(agents):
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)
    rounds = []
    for n in range(ROUNDS):
        rounds.append(await asyncio.to_thread(_round, n + 1, rest, integration, db_url, received))
    for client in clients:
        client.cancel()
    await asyncio.gather(*clients, return_exceptions=True)
    return {"rounds": rounds, "agent_errors": errors[:20], "agent_error_count": len(errors)}


def run(command: str) -> dict:
    url = common.scratch_database_url()
    env = common.bench_env(url, DATABASE_CONN_MAX_AGE="60", CELERY_BROKER_URL=BROKER)
    common.manage(env, "migrate", "--no-input")
    integration, agents = _tokens(env)
    rest_port, ws_port = common.free_port(), common.free_port()
    logs = common.ROOT / "bench" / "results" / "callbacks-logs"
    celery = str(common.BIN / "celery")
    specs = {
        "rest": common.gunicorn(rest_port),
        "ws": common.uvicorn(ws_port),
        "runner": common.runner(),
        "worker": [celery, "-A", "config", "worker", "--loglevel", "WARNING", "--concurrency", "2"],
        "beat": [celery, "-A", "config", "beat", "--loglevel", "WARNING", "--schedule", str(logs / "beat")],
    }
    with common.servers(specs, env, logs) as procs:
        common.wait_ready(f"http://127.0.0.1:{rest_port}")
        common.wait_ready(f"http://127.0.0.1:{ws_port}")
        result = asyncio.run(
            _scenario(
                f"http://127.0.0.1:{rest_port}",
                f"ws://127.0.0.1:{ws_port}/ws/v1/agent",
                integration,
                agents,
                url,
            )
        )
        result["peak_rss"] = {name: common.rss_mib(p.pid, peak=True) for name, p in procs.items()}
    _report(result, command, url)
    return result


def _report(result: dict, command: str, url: str) -> None:
    rounds = result["rounds"]
    p50, p99 = common.median([r["p50"] for r in rounds]), common.median([r["p99"] for r in rounds])
    duplicates = sum(r["duplicates"] for r in rounds)
    left = sum(r["callbacks"] - r["completed"] for r in rounds)
    rows = [
        [
            f"round {i + 1}",
            r["callbacks"],
            r["offered"],
            r["completed"],
            f"{r['p50']:.2f}",
            f"{r['p99']:.2f}",
            f"{r['max']:.2f}",
            f"{r['receipt_p50']:.2f}",
            f"{r['receipt_p99']:.2f}",
            r["duplicates"],
        ]
        for i, r in enumerate(rounds)
    ]
    rows.append(
        ["**median**", "", "", "", f"**{p50:.2f}**", f"**{p99:.2f}**", "", "", "", f"**{duplicates}**"]
    )
    verdict = common.table(
        [
            ["offer lateness p99 < 2 s (then 1)", f"{p99:.2f} s", "yes" if p99 < 2 else "**no**"],
            ["duplicated offers = 0", str(duplicates), "yes" if duplicates == 0 else "**no**"],
            ["every callback completed (none left behind)", f"{left} left", "yes" if left == 0 else "**no**"],
        ],
        ["target", "measured", "met"],
    )
    body = (
        f"## Callbacks\n\n{CALLBACKS} callbacks requested over REST, due evenly over one minute; "
        f"{AGENTS} agents on websockets accept each offer and report it completed at once. gunicorn "
        "(4 sync workers) for REST, uvicorn for the sockets, a subscription runner, a Celery worker (2 "
        "processes) and beat "
        "(1 s tick) on Redis. Lateness in "
        "seconds after `due_at`: of the offer's commit, and of its receipt by the agent.\n\n"
        + common.table(
            rows,
            [
                "round",
                "callbacks",
                "offered",
                "completed",
                "p50 s",
                "p99 s",
                "max s",
                "receipt p50 s",
                "receipt p99 s",
                "duplicates",
            ],
        )
        + "\n\n"
        + verdict
        + f"\n\nAgent error frames: {result['agent_error_count']}. Peak RSS per process (with its children): "
        + ", ".join(f"{k} {v:.0f} MiB" for k, v in result["peak_rss"].items())
        + "."
    )
    common.write_section("callbacks", body, command, url)
    common.dump_json(Path(common.ROOT / "bench" / "results" / "callbacks.json"), result)
    print(body)
