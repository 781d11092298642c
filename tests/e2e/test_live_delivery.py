"""Two real ASGI servers and a Celery worker on PostgreSQL: every event reaches the socket, in order, once.

A supervisor's socket on server B subscribes to everything; events are posted over REST to server A and
appended by a Celery task (an agent's presence expiring after its socket closes) and by a management command
in a process of its own. The socket must receive
exactly the log's sequence. Then it disconnects, ten more events are posted, and a reconnect with `after`
receives exactly those ten.
"""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest
from websockets.asyncio.client import connect

from interactions.models import Role
from tests.conftest import cloud_event, requires_postgresql
from tests.e2e import servers
from tests.factories import ApiTokenFactory

pytestmark = [requires_postgresql, pytest.mark.django_db(transaction=True)]
TIMEOUT = 30


async def next_frame(ws) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))


def test_events_from_rest_and_celery_reach_a_socket_on_another_server_exactly_once(tmp_path):
    admin = ApiTokenFactory(role=Role.ADMIN)
    supervisor = ApiTokenFactory(role=Role.SUPERVISOR)
    agent = ApiTokenFactory(role=Role.AGENT)
    port_a, port_b = servers.free_port(), servers.free_port()
    a, b = f"http://127.0.0.1:{port_a}", f"ws://127.0.0.1:{port_b}/ws/v1/agent"
    env = servers.server_env(THREADLINE_PRESENCE_GRACE_SECONDS="1")
    specs = {
        "web-a": servers.uvicorn(port_a),
        "web-b": servers.uvicorn(port_b),
        "worker": servers.celery_worker(),
    }

    def post(events: list[dict]) -> list[dict]:
        status, body = servers.request(
            f"{a}/api/v1/events",
            data=json.dumps(events).encode(),
            headers={
                "Content-Type": "application/cloudevents-batch+json",
                "Authorization": f"Bearer {admin.raw}",
            },
        )
        assert status == 201, body
        return body["results"]

    def log_after(position: int) -> list[int]:
        status, body = servers.request(
            f"{a}/api/v1/events?after={position}&limit=1000",
            headers={"Authorization": f"Bearer {supervisor.raw}"},
        )
        assert status == 200 and not body["has_more"], body
        return [e["position"] for e in body["events"]]

    def append_from_a_management_command(token_id) -> None:
        code = (
            "from interactions.ingestion.pipeline import events_ingest;"
            "from interactions.access.models import ApiToken;"
            "from tests.conftest import cloud_event;"
            f"events_ingest([cloud_event(id='from-a-command')], token=ApiToken.objects.get(pk='{token_id}'))"
        )
        subprocess.run(
            [str(servers.BIN / "python"), "manage.py", "shell", "-c", code],
            cwd=servers.ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )

    async def scenario() -> None:
        async with connect(f"{b}?token={supervisor.raw}") as ws:
            await ws.send(json.dumps({"op": "subscribe", "topics": ["all"], "after": None}))
            start = (await next_frame(ws))["position"]

            # REST on server A: single events and a batch, several customers.
            for i in range(5):
                await asyncio.to_thread(post, [cloud_event(id=f"one-{i}", subject=f"tel:+1555000{i:04d}")])
            await asyncio.to_thread(post, [cloud_event(id=f"batch-{i}") for i in range(20)])

            # The Celery worker appends: an agent's socket closes and the presence expiry marks them offline.
            async with connect(f"{b}?token={agent.raw}") as agent_ws:
                await agent_ws.send(json.dumps({"op": "status", "value": "available"}))
                await agent_ws.send(json.dumps({"op": "ping"}))
                assert (await next_frame(agent_ws))["op"] == "pong"
            frames = []
            while not any(
                f["event"]["type"] == "agent.status_changed" and f["event"]["data"]["status"] == "offline"
                for f in frames
            ):
                frames.append(await next_frame(ws))
            # A management command in a process of its own appends too (through the ingestion service).
            await asyncio.to_thread(append_from_a_management_command, admin.pk)
            expected = await asyncio.to_thread(log_after, start)
            while frames[-1]["position"] < expected[-1]:
                frames.append(await next_frame(ws))
            assert [f["position"] for f in frames] == expected
            assert "from-a-command" in {f["event"]["id"] for f in frames}
            assert [f["position"] for f in frames] == sorted({f["position"] for f in frames})  # no duplicates
            last_seen = frames[-1]["position"]

        # Disconnected: ten more for an existing customer and thread (so no hub events are added).
        ten = await asyncio.to_thread(post, [cloud_event(id=f"after-{i}") for i in range(10)])
        assert all(r["thread_id"] == ten[0]["thread_id"] for r in ten)

        async with connect(f"{b}?token={supervisor.raw}") as ws:
            await ws.send(json.dumps({"op": "subscribe", "topics": ["all"], "after": last_seen}))
            resumed = [await next_frame(ws) for _ in range(10)]
            caught_up = await next_frame(ws)
            # Then live: nothing of the replay comes again, so the next frame is the next event posted.
            (sentinel,) = await asyncio.to_thread(post, [cloud_event(id="after-sentinel")])
            following = await next_frame(ws)
            assert [f["event"]["id"] for f in resumed] == [f"after-{i}" for i in range(10)]
            assert [f["position"] for f in resumed] == [r["position"] for r in ten]
            assert caught_up == {"op": "caught_up", "position": ten[-1]["position"]}
            assert following["position"] == sentinel["position"]
            assert following["event"]["id"] == "after-sentinel"

    with servers.processes(specs, env, tmp_path):
        servers.wait_ready(a, tmp_path)
        servers.wait_ready(f"http://127.0.0.1:{port_b}", tmp_path)
        asyncio.run(scenario())
    worker_log = (tmp_path / "worker.log").read_text()
    assert "interactions.agent_presence_expire" in worker_log, worker_log[-3000:]
