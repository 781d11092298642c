"""The processes `make run` starts (the Procfile under config/run.py, honcho's runner): API, Celery worker and
beat, and the subscription runner, on embedded defaults.

Runs them for real on loopback with a fresh var/ directory, posts an event with the CloudEvents SDK several
times, reads it back once, has a callback offered to an agent on a websocket (by the worker and beat), then
stops the whole set with one signal as Ctrl-C would. And runs `make run` itself, to see Ctrl-C stop every
process it started, each by itself (no SIGKILL), with no error from make.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from websockets.asyncio.client import connect

from tests.e2e import servers


async def _callback_reaches_the_agent(base: str, ws_url: str, token: str) -> dict:
    """An available agent on a socket is offered a callback requested over REST, by make run's worker."""
    async with connect(ws_url) as ws:
        await ws.send(json.dumps({"op": "ping"}))
        assert json.loads(await ws.recv()) == {"op": "pong"}
        await ws.send(json.dumps({"op": "subscribe", "topics": ["agent:me"], "after": None}))
        await ws.send(json.dumps({"op": "status", "value": "available"}))
        body = json.dumps({"identifier": "tel:+15551234567", "phone": "+15551234567", "reason": "refund"})
        status, callback = await asyncio.to_thread(
            servers.request,
            f"{base}/api/v1/callbacks",
            data=body.encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        assert status == 201, callback
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if frame["op"] == "event" and frame["event"]["type"] == "callback.offered":
                break
        await ws.send(json.dumps({"op": "accept", "callback_id": callback["id"]}))
        while frame["op"] != "ack":
            frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
        return frame


@pytest.fixture
def embedded_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env["THREADLINE_VAR_DIR"] = str(tmp_path / "var")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def test_make_run_processes_serve_and_store_an_sdk_event_once(embedded_env, tmp_path):
    manage = [str(servers.BIN / "python"), "manage.py"]
    subprocess.run(
        [*manage, "migrate", "--no-input"],
        cwd=servers.ROOT,
        env=embedded_env,
        check=True,
        capture_output=True,
    )
    created = subprocess.run(
        [*manage, "create_token", "pbx", "--role", "integration", "--source", "/pbx/"],
        cwd=servers.ROOT,
        env=embedded_env,
        check=True,
        capture_output=True,
        text=True,
    )
    token = created.stdout.strip().splitlines()[-1]
    agent = (
        subprocess.run(
            [*manage, "create_token", "desk", "--role", "agent"],
            cwd=servers.ROOT,
            env=embedded_env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    port = servers.free_port()
    log = (tmp_path / "honcho.log").open("w")
    honcho = subprocess.Popen(
        [str(servers.BIN / "python"), "-m", "config.run", "-f", "Procfile", "-p", str(port)],
        cwd=servers.ROOT,
        env=embedded_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if servers.request(f"{base}/readyz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the API did not come up: " + (tmp_path / "honcho.log").read_text()[-2000:])

        event = CloudEvent(
            attributes={
                "type": "call.started",
                "source": "/pbx/eu",
                "id": "call-1",
                "subject": "tel:+15551234567",
            },
            data={"direction": "inbound", "conversation_ref": "call-1"},
        )
        message = ce_http.to_structured(event, JSONFormat())
        headers = {**message.headers, "Authorization": f"Bearer {token}"}
        answers = [
            servers.request(f"{base}/api/v1/events", data=message.body, headers=headers) for _ in range(3)
        ]
        status, page = servers.request(
            f"{base}/api/v1/events?after=0", headers={"Authorization": f"Bearer {token}"}
        )
        tried = _try_the_readme(port, embedded_env)
        # The worker and beat come up beside the API (honcho would stop everything if one exited).
        for _ in range(600):
            output = (tmp_path / "honcho.log").read_text()
            if ("ready." in output and "beat: Starting" in output) or honcho.poll() is not None:
                break
            time.sleep(0.1)
        assert honcho.poll() is None, output[-3000:]
        ack = asyncio.run(
            _callback_reaches_the_agent(base, f"ws://127.0.0.1:{port}/ws/v1/agent?token={agent}", token)
        )
    finally:
        os.killpg(honcho.pid, signal.SIGINT)
        honcho.wait(30)
        log.close()

    posted, log_page, context = tried
    assert (posted["id"], posted["duplicate"]) == ("sms-0001", False), tried
    assert "sms-0001" in [e["event"]["id"] for e in log_page["events"]], tried
    assert "tel:+15551234567" in context["customer"]["identifiers"], tried
    assert "Hi, my bill looks wrong" in [e["text"] for t in context["open_threads"] for e in t["recent"]]
    assert [a[0] for a in answers] == [201, 201, 201]
    assert [a[1]["duplicate"] for a in answers] == [False, True, True]
    assert status == 200
    assert [e["event"]["id"] for e in page["events"]] == ["call-1"]
    assert ack["callback"]["state"] == "accepted"  # offered by the worker and beat of `make run`
    assert "celery@" in output and "ready." in output and "beat: Starting" in output, output[-3000:]
    stopped = (tmp_path / "honcho.log").read_text()
    assert "WebSocket /ws/v1/agent?token=[redacted]" in stopped, stopped[-3000:]
    assert agent not in stopped and token not in stopped  # no credential reaches the logs
    assert all(f"{name}.1 stopped" in stopped for name in ("web", "worker", "beat", "runner")), stopped[
        -3000:
    ]
    assert "runner.1 | Runner " in stopped  # the subscription runner came up beside them
    # The every-second tick's routine lines are left out of the log (beat's here; the worker's, which a
    # nudge of the same task still writes, in tests/test_logfilters.py).
    assert "Sending due task callbacks-dispatch" not in stopped


def _try_the_readme(port: int, env: dict[str, str]) -> list[dict]:
    """The README's "Try it" commands, as a reader pastes them (only the port differs), against these
    processes: the JSON documents they print."""
    readme = (servers.ROOT / "README.md").read_text()
    block = readme.split("## Try it", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    script = block.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    ran = subprocess.run(
        [shutil.which("bash") or "/bin/bash", "-euo", "pipefail", "-c", script],
        cwd=servers.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    documents, decoder, text = [], json.JSONDecoder(), ran.stdout.strip()
    while text:
        document, end = decoder.raw_decode(text)
        documents.append(document)
        text = text[end:].strip()
    assert all("status" not in d for d in documents), documents  # no problem+json among them
    return documents


def _descendants(root: int) -> set[int]:
    """Every process below `root`, from /proc."""
    children: dict[int, set[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, rest = stat.read_text().split(" (", 1)
        except OSError:
            continue  # gone meanwhile
        ppid = int(rest.rsplit(") ", 1)[1].split()[1])
        children.setdefault(ppid, set()).add(int(pid))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.add(child)
            todo.append(child)
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent has not collected its status yet


MAKE = shutil.which("make") or "make"


def _start_make_run(env: dict[str, str], port: int, log) -> subprocess.Popen:
    """`make run` in a process group of its own (like a shell's foreground job), once all of it is up. It
    starts with SIGHUP at its default, as from a terminal's shell, even when the suite itself runs under
    `nohup` (an ignored signal is inherited, and `make run` then rightly leaves a hangup ignored)."""
    hangup = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    try:
        make = subprocess.Popen(
            [MAKE, "--no-print-directory", "run"],
            cwd=servers.ROOT,
            env={**env, "PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        signal.signal(signal.SIGHUP, hangup)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and make.poll() is None:
        output = Path(log.name).read_text()
        if "celery@" in output and " ready." in output and "beat: Starting" in output:
            try:
                if servers.request(f"http://127.0.0.1:{port}/readyz")[0] == 200:
                    return make
            except OSError:
                pass
        time.sleep(0.2)
    if make.poll() is None:
        os.killpg(make.pid, signal.SIGKILL)
    pytest.fail("make run did not come up: " + Path(log.name).read_text()[-3000:])


def _signal_make_run(
    env: dict[str, str], log_path: Path, signum: int, *, port: int | None = None
) -> tuple[set[int], list[str]]:
    """Start `make run`, send its process group `signum`, and wait for make and for every process it had
    started. Returns those processes and the ones still running a minute later, described (_wait_until_gone;
    killed before returning)."""
    with log_path.open("w") as log:
        make = _start_make_run(env, port or servers.free_port(), log)
        started: set[int] = set()
        try:
            started = _descendants(make.pid)
            os.killpg(make.pid, signum)
            make.wait(60)
            return started, _wait_until_gone(started)
        finally:
            for pid in started:
                if _running(pid):
                    os.kill(pid, signal.SIGKILL)
            if make.poll() is None:
                os.killpg(make.pid, signal.SIGKILL)


def _wait_until_gone(pids: set[int], seconds: float = 60) -> list[str]:
    """Wait for `pids` to exit; those still running after `seconds`, each as its pid, state and command line
    (what a failure must name: which program outlived its parent)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and [pid for pid in pids if _running(pid)]:
        time.sleep(0.2)
    return [_described(pid) for pid in sorted(pids) if _running(pid)]


def _described(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return f"{pid} (gone meanwhile)"
    name, rest = stat.split(" (", 1)[1].rsplit(") ", 1)
    state, ppid = rest.split()[:2]
    return f"{pid} state {state} parent {ppid}: {command.strip() or name}"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process tree from /proc")
@pytest.mark.skipif(shutil.which("make") is None, reason="runs make")
def test_ctrl_c_on_make_run_stops_every_process_by_itself_and_make_reports_no_error(embedded_env, tmp_path):
    port = servers.free_port()
    log_path = tmp_path / "make.log"
    with log_path.open("w") as log:
        make = _start_make_run(embedded_env, port, log)
        try:
            started = _descendants(make.pid)
            # Ctrl-C: the terminal sends SIGINT to every process of the foreground group.
            os.killpg(make.pid, signal.SIGINT)
            status = make.wait(60)
        finally:
            if make.poll() is None:
                os.killpg(make.pid, signal.SIGKILL)
    output = log_path.read_text()

    assert status in (0, -signal.SIGINT), output[-3000:]  # make re-raises the SIGINT it got, silently
    assert "SIGKILL" not in output, output[-3000:]
    assert "make: ***" not in output and "Error" not in output, output[-3000:]
    for name in ("web", "worker", "beat", "runner"):
        # uvicorn ends by re-raising the SIGTERM it handled once it has shut down; the others exit with 0.
        assert re.search(rf"{name}\.1 stopped \(rc=(0|-15)\)", output), output[-3000:]
    assert "Finished server process" in output and "Warm shutdown" in output
    assert len(started) >= 5, started  # the runner, the three processes, and whatever they started
    assert not [pid for pid in started if _running(pid)], output[-3000:]


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process tree from /proc")
@pytest.mark.skipif(shutil.which("make") is None, reason="runs make")
def test_closing_the_terminal_of_make_run_stops_every_process_it_started(embedded_env, tmp_path):
    """The terminal closing sends SIGHUP to its foreground group: make and honcho, but not the programs,
    each in a session of its own. They ran on as orphans (the port taken, beat ticking, the runner holding
    its leases) and the next `make run` could not start."""
    log_path = tmp_path / "make.log"
    started, left = _signal_make_run(embedded_env, log_path, signal.SIGHUP)
    output = log_path.read_text()

    assert len(started) >= 5, started
    assert not left, "\n".join([*left, output[-3000:]])
    assert "SIGTERM received" in output and "SIGKILL" not in output, output[-3000:]
    for name in ("web", "worker", "beat", "runner"):
        assert re.search(rf"{name}\.1 stopped \(rc=(0|-15)\)", output), output[-3000:]


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the kernel's parent-death signal is Linux's"
)
@pytest.mark.skipif(shutil.which("make") is None, reason="runs make")
def test_make_run_killed_outright_leaves_no_program_running(embedded_env, tmp_path):
    """SIGKILL to make and honcho (an OOM kill, `kill -9` of the job) runs no handler: the programs, each in
    a session of its own, ran on as orphans holding the port, and the next `make run` could not start. Each
    now gets SIGTERM from the kernel when the process honcho ran it from dies with honcho."""
    port = servers.free_port()
    log_path = tmp_path / "make.log"
    # make, honcho and honcho's own processes; not the programs, each in a session of its own
    started, left = _signal_make_run(embedded_env, log_path, signal.SIGKILL, port=port)

    assert len(started) >= 5, started
    assert not left, "\n".join([*left, log_path.read_text()[-3000:]])
    with socket.socket() as probe:  # the port is free for the next make run (no one listens on it)
        # As uvicorn binds: a connection in TIME_WAIT is no matter, a listener is.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
