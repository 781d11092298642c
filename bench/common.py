"""Shared benchmark plumbing: a scratch database, server processes, percentiles, machine facts, the report."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import environ

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
REPORT = ROOT / "docs" / "benchmarks.md"
# Where a BENCH_QUICK run writes its sections instead: smoke figures never land in the report as results.
QUICK_REPORT = ROOT / "bench" / "results" / "benchmarks-quick.md"
# The scratch database; THREADLINE_BENCH_DB names another, so that two benchmark runs on one server (two
# worktrees) never drop each other's.
SCRATCH_DB = os.environ.get("THREADLINE_BENCH_DB", "threadline_bench")


class BenchError(SystemExit):
    pass


def quick() -> bool:
    """BENCH_QUICK=1: every benchmark at a smoke-run size (minutes in all); its figures are not results."""
    return os.environ.get("BENCH_QUICK", "").strip().lower() not in ("", "0", "false", "no")


def size(variable: str, full: float, smoke: float) -> float:
    """A benchmark's size: the variable if set, else the smoke size under BENCH_QUICK, else the full one."""
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return smoke if quick() else full
    try:
        value = float(raw.replace("_", ""))
    except ValueError:
        raise BenchError(f"{variable} must be a positive number, not {raw!r}") from None
    if value <= 0:
        raise BenchError(f"{variable} must be a positive number, not {raw!r}")
    return value


def chosen(parser: argparse.ArgumentParser, choices: Sequence[str], what: str) -> list[str]:
    """The names given on the command line among `choices` (all of them when none is given)."""
    parser.add_argument(
        "names", nargs="*", metavar="name", help=f"one of {', '.join(choices)} (default: all)"
    )
    names = parser.parse_args().names or list(choices)
    unknown = [n for n in names if n not in choices]
    if unknown:
        parser.error(f"unknown {what} {', '.join(unknown)}; choose from {', '.join(choices)}")
    return names


def entry_point(main: Callable[[], None]) -> None:
    """Run a benchmark command: a BenchError prints its message and exits with status 2."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    try:
        main()
    except BenchError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None


def require_postgresql() -> str:
    """DATABASE_URL, if it names a PostgreSQL server; otherwise the benchmarks refuse to run."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        raise BenchError(
            "benchmarks run on PostgreSQL: set DATABASE_URL, e.g. "
            "DATABASE_URL=postgres://postgres@127.0.0.1:5432/threadline make bench (SQLite is refused)"
        )
    return url


def require_extra(module: str) -> None:
    """Refuse, before any work, when a package of the `bench` extra (the peer, the profiler) is missing."""
    try:
        importlib.import_module(module)
    except ImportError:
        raise BenchError(
            f"{module} is not installed; it comes with the bench extra: pip install -e '.[dev,bench]'"
        ) from None


def scratch_database_url(name: str = SCRATCH_DB) -> str:
    """A fresh scratch database on the server DATABASE_URL names (PostgreSQL only); yours stays untouched."""
    url = require_postgresql()
    config = environ.Env.db_url_config(url)
    admin = _psql_args(config, "postgres")
    subprocess.run(
        [*admin, "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=True, capture_output=True
    )
    subprocess.run([*admin, "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    auth = config["USER"] + (f":{config['PASSWORD']}" if config.get("PASSWORD") else "")
    return f"postgres://{auth}@{config['HOST'] or '127.0.0.1'}:{config['PORT'] or 5432}/{name}"


def _psql_args(config: dict, database: str) -> list[str]:
    return [
        "psql",
        "-h",
        config["HOST"] or "127.0.0.1",
        "-p",
        str(config["PORT"] or 5432),
        "-U",
        config["USER"],
        "-d",
        database,
        "-v",
        "ON_ERROR_STOP=1",
        "-q",
    ]


def bench_env(database_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING", **extra})
    return env


def manage(env: dict[str, str], *args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(
        [str(BIN / "python"), "manage.py", *args],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def create_token(env: dict[str, str], name: str, role: str, *extra: str, cwd: Path = ROOT) -> str:
    return manage(env, "create_token", name, "--role", role, *extra, cwd=cwd).strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def servers(specs: dict[str, list[str]], env: dict[str, str], logs: Path, cwd: Path = ROOT):
    """Run each command until the block ends (logs under `logs`); yield name -> Popen."""
    logs.mkdir(parents=True, exist_ok=True)
    procs: dict[str, subprocess.Popen] = {}
    try:
        for name, argv in specs.items():
            procs[name] = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdout=(logs / f"{name}.log").open("w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        yield procs
    finally:
        for proc in procs.values():
            with _suppress():
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _suppress():
    return contextlib.suppress(ProcessLookupError)


def gunicorn(port: int, app: str = "config.wsgi:application") -> list[str]:
    """REST as production runs it: WSGI sync workers (with DATABASE_CONN_MAX_AGE set by the caller)."""
    return [
        str(BIN / "gunicorn"),
        app,
        "-w",
        "4",
        "-b",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "--timeout",
        "300",
    ]


def uvicorn(port: int) -> list[str]:
    """Websockets as production serves them: one uvicorn process, quiet."""
    return [
        str(BIN / "uvicorn"),
        "config.asgi:application",
        "--port",
        str(port),
        "--ws-max-size",  # as the Procfile starts it
        "262144",
        "--log-level",
        "warning",
        "--no-access-log",
    ]


def runner() -> list[str]:
    """A subscription runner, as the Procfile starts one beside the servers: without it the read models
    (customers, threads, presence, reachability, nba) are never applied."""
    return [str(BIN / "python"), "manage.py", "run_subscriptions"]


def subscription_positions(conn) -> tuple[int, dict[str, int]]:
    """The log's head and each subscription's position, read in one snapshot (a psycopg connection)."""
    rows = conn.execute(
        "SELECT (SELECT coalesce(max(position), 0) FROM hub_event), name, position, state"
        " FROM hub_subscription"
    ).fetchall()
    parked = [name for _, name, _, state in rows if state == "parked"]
    if parked:
        raise BenchError(f"subscription {', '.join(parked)} parked: see `manage.py subscriptions`")
    if not rows:  # no runner has started yet
        return conn.execute("SELECT coalesce(max(position), 0) FROM hub_event").fetchone()[0], {}
    head = rows[0][0]
    return head, {name: position for _, name, position, _ in rows}


def wait_caught_up(url: str, runner: subprocess.Popen | None = None, timeout: float = 600) -> float:
    """Wait until every subscription has applied the log's head; return the seconds waited.

    Between two measures, so that a runner still applying the last one's backlog does not take CPU from the
    next (the peer and the raw ceiling would look slower than they are)."""
    import psycopg

    started = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            head, positions = subscription_positions(conn)
            if positions and min(positions.values()) >= head:
                return time.monotonic() - started
            if runner is not None and runner.poll() is not None:
                raise BenchError(f"the subscription runner exited with status {runner.returncode}")
            if time.monotonic() - started > timeout:
                behind = {n: head - p for n, p in positions.items() if p < head}
                raise BenchError(f"the runner did not catch up within {timeout:.0f} s (behind: {behind})")
            time.sleep(0.05)


def wait_ready(base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            time.sleep(0.2)
    raise BenchError(f"{base} did not come up")


def rss_mib(pid: int, *, peak: bool = False) -> float:
    """Resident memory of a process and its children (uvicorn workers), in MiB."""
    total = 0
    for p in [pid, *_children(pid)]:
        try:
            text = Path(f"/proc/{p}/status").read_text()
        except FileNotFoundError:
            continue
        match = re.search(r"^VmHWM:\s+(\d+)" if peak else r"^VmRSS:\s+(\d+)", text, re.M)
        total += int(match.group(1)) if match else 0
    return total / 1024


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User and system CPU each of these processes has used so far, in seconds (Linux /proc); a process
    that is gone is left out."""
    spent = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        spent[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime in ticks
    return spent


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two `cpu_seconds` readings: each process's own difference, a process started in
    between counted whole, one that ended in between left out (its last share cannot be read)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def with_children(pid: int) -> list[int]:
    return [pid, *_children(pid)]


def postgres_pids() -> list[int]:
    """Every process of a PostgreSQL server on this machine (its backends and its own workers), or [] when
    the server runs elsewhere (or as another user than `postgres`)."""
    found = subprocess.run(["pgrep", "-u", "postgres"], capture_output=True, text=True).stdout.split()
    return [int(p) for p in found]


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = task / "children"
        if children.exists():
            for child in children.read_text().split():
                found += [int(child), *_children(int(child))]
    return found


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> dict[str, str]:
    mem_kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    server = os.environ.get("BENCH_PG_VERSION", "")
    return {
        "cores": str(os.cpu_count()),
        "cpu": cpu.group(1).strip() if cpu else platform.processor(),
        "memory": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "python": platform.python_version(),
        "postgresql": server or pg,
        "kernel": platform.release(),
    }


def server_version(database_url: str) -> str:
    config = environ.Env.db_url_config(database_url)
    done = subprocess.run(
        [*_psql_args(config, config["NAME"]), "-tAc", "SHOW server_version"], capture_output=True, text=True
    )
    return done.stdout.strip()


def write_section(name: str, body: str, command: str, database_url: str) -> None:
    """Replace this benchmark's section of docs/benchmarks.md (the others stay), or of QUICK_REPORT."""
    facts = machine()
    facts["postgresql"] = server_version(database_url) or facts["postgresql"]
    header = (
        f"_Measured {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} on {facts['cores']} cores "
        f"({facts['cpu']}), {facts['memory']}, PostgreSQL {facts['postgresql']}, Python {facts['python']}, "
        f"Linux {facts['kernel']}. Reproduce: `{command}`._\n\n"
    )
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    section = f"{start}\n{header}{body.rstrip()}\n{end}"
    report = QUICK_REPORT if quick() else REPORT
    text = report.read_text() if report.exists() else "# Benchmarks\n"
    if start in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: section, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(text)
    if quick():
        print(f"BENCH_QUICK: a smoke run, written to {report}, not to {REPORT}")


def table(rows: list[list[str]], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def dump_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str))
