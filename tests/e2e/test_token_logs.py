"""No bearer token reaches the real server's log, whatever its encoding or place in the request.

Runs the Procfile's `web` command (uvicorn with config/uvicorn-logging.json, as `make run` does) on embedded
defaults in a scratch directory, sends a token every way a client might (query parameter spelled out or
percent-encoded, an encoded `=`, an encoded token, twice-encoded, in the path, in a header, as a
subprotocol), over HTTP and websockets, and reads uvicorn's access and error logs and Django's.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import subprocess
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.e2e import servers


@pytest.fixture
def embedded_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env["THREADLINE_VAR_DIR"] = str(tmp_path / "var")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def procfile_web(port: int) -> list[str]:
    """The Procfile's web command, as honcho would run it."""
    line = next(
        line.partition(":")[2]
        for line in (servers.ROOT / "Procfile").read_text().splitlines()
        if line.startswith("web:")
    )
    argv = shlex.split(line.replace("$PORT", str(port)))
    return argv[1:] if argv[0] == "exec" else argv


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(servers.BIN / "python"), "manage.py", *args],
        cwd=servers.ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


async def close_code(url: str, **kwargs) -> int | None:
    """The code the server closes with (None if it answered a ping instead)."""
    async with connect(url, **kwargs) as ws:
        try:
            await ws.send(json.dumps({"op": "ping"}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
        assert reply == {"op": "pong"}
        return None


def test_no_token_reaches_the_servers_log_in_any_encoding(embedded_env, tmp_path):
    manage(embedded_env, "migrate", "--no-input")
    raw = manage(embedded_env, "create_token", "desk", "--role", "supervisor")
    secret = raw[3:]
    port = servers.free_port()
    base, ws = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws/v1/agent"
    log_path = tmp_path / "web.log"

    with servers.processes({"web": procfile_web(port)}, embedded_env, tmp_path):
        servers.wait_ready(base, tmp_path)
        codes = {
            query: asyncio.run(close_code(f"{ws}?{query}"))
            for query in (
                f"token={raw}",
                f"%74oken={raw}",
                f"token%3D{raw}",
                f"token=tl%5F{secret}",
                f"%2574oken%253D%2574l%255F{secret}",
                f"x=1&token={raw[:20]}%2D{raw[21:]}",
            )
        }
        subprotocol = asyncio.run(close_code(ws, subprotocols=[f"bearer.{raw}"]))
        answers = {
            path: servers.request(f"{base}{path}", headers=headers)[0]
            for path, headers in (
                (f"/readyz?token={raw}", {}),
                (f"/api/v1/events?%74oken={raw}", {}),
                (f"/api/v1/customers/{raw}/context", {"Authorization": f"Bearer {raw}"}),
                ("/api/v1/events?after=0", {"Authorization": f"Bearer {raw}"}),
            )
        }
        time.sleep(0.5)  # let the last lines reach the file
    log = log_path.read_text()

    spelled_out = f"token={raw}"  # the one spelling that authenticates; every other one is refused
    assert codes == {query: None if query == spelled_out else 4401 for query in codes}
    assert subprotocol is None
    assert answers == {
        f"/readyz?token={raw}": 200,
        f"/api/v1/events?%74oken={raw}": 401,
        f"/api/v1/customers/{raw}/context": 404,
        "/api/v1/events?after=0": 200,
    }
    assert secret[:12] not in log, log
    for line in (
        'WebSocket /ws/v1/agent?token=[redacted]"',
        'WebSocket /ws/v1/agent?%74oken=[redacted]"',
        'WebSocket /ws/v1/agent?token%3D[redacted]"',
        'WebSocket /ws/v1/agent?%2574oken%253D[redacted]"',
        '"GET /readyz?token=[redacted] HTTP/1.1" 200',
        '"GET /api/v1/events?%74oken=[redacted] HTTP/1.1" 401',
        '"GET /api/v1/customers/[redacted]/context HTTP/1.1" 404',
        "Not Found: /api/v1/customers/[redacted]/context",  # Django's own line
    ):
        assert line in log, (line, log)
    assert "Logging error" not in log and "Traceback" not in log, log
