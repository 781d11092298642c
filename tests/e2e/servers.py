"""Start the hub's real processes (uvicorn, Celery worker) on loopback for end-to-end tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from email.message import Message
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_database_url() -> str:
    """The URL of the database this test run uses (pytest-django's test database), for another process."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


# Calling hours that never hold a callback back (the default, 08:00-21:00, would at night).
ANY_HOUR = "daily 00:00-24:00"


def server_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"DATABASE_URL": test_database_url(), "PYTHONUNBUFFERED": "1", **extra})
    return env


def production_env(**extra: str) -> dict[str, str]:
    """A process with the project's own settings (config.settings), as production runs it: subscriptions are
    applied by runner processes, never in the request (the test settings apply them in place)."""
    return server_env(
        DJANGO_SETTINGS_MODULE="config.settings", THREADLINE_SUBSCRIPTIONS_EAGER="false", **extra
    )


def with_application_name(env: dict[str, str], name: str) -> dict[str, str]:
    """The same environment, its database sessions named `name` in pg_stat_activity (PostgreSQL)."""
    return {**env, "DATABASE_URL": f"{env['DATABASE_URL']}?application_name={name}"}


def exchange(
    url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 20
) -> tuple[int, Message, dict]:
    """One HTTP request: the status, the headers (looked up case-insensitively) and the JSON body of its
    answer."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, json.loads(exc.read())


def request(
    url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict]:
    status, _, body = exchange(url, data=data, headers=headers)
    return status, body


@contextmanager
def processes(specs: dict[str, list[str]], env: dict[str, str], logs: Path):
    """Run each command (name -> argv) until the block ends; yield the Popen objects by name."""
    started: dict[str, subprocess.Popen] = {}
    handles = []
    try:
        for name, argv in specs.items():
            handle = (logs / f"{name}.log").open("w")
            handles.append(handle)
            started[name] = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
            )
        yield started
    finally:
        for process in started.values():
            process.terminate()
        for process in started.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        for handle in handles:
            handle.close()


# The largest websocket frame uvicorn reads, as the Procfile says: what 64 Ki characters (the consumer's
# limit, answered with too_large) can take in UTF-8. A bigger one closes the socket with 1009.
WS_MAX_BYTES = 262_144


def uvicorn(port: int) -> list[str]:
    return [
        *(str(BIN / "uvicorn"), "config.asgi:application", "--host", "127.0.0.1", "--port", str(port)),
        *("--ws-max-size", str(WS_MAX_BYTES)),
    ]


def celery_worker(concurrency: int = 1) -> list[str]:
    """A worker on the configured broker: solo pool for one process, prefork children for more. Named after
    its test worker's queue: on RabbitMQ a worker's remote-control queue is exclusive and named after the
    worker, so two test workers' Celery workers of the default name (celery@host) running at once refused
    each other (RESOURCE_LOCKED), and one of them never consumed."""
    queue = os.environ.get("THREADLINE_CELERY_QUEUE") or "celery"
    argv = [
        str(BIN / "celery"),
        "-A",
        "config",
        "worker",
        "--hostname",
        f"{queue}@%h",
        "--loglevel",
        "INFO",
        "--concurrency",
        str(concurrency),
        "--without-gossip",
        "--without-mingle",
    ]
    return [*argv, "--pool", "solo"] if concurrency == 1 else argv


def wait_ready(base: str, logs: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if request(f"{base}/readyz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(
        f"{base} did not come up; logs: " + " | ".join(p.read_text()[-1500:] for p in logs.glob("*.log"))
    )
