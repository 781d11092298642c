"""Read your own writes with a real server and a real runner (PostgreSQL): a read with `min_position` waits
while the runner is held inside its batch, then answers with the write; with the runner stopped, it answers
503 problem+json with Retry-After and both positions once THREADLINE_READ_WAIT_SECONDS has passed.

The HTTP side goes through uvicorn processes and the read models are applied by `manage.py
run_subscriptions`, both with the project's own settings (config.settings), so nothing applies a read model
in the request. The runner is slowed down deterministically, not by a sleep: the test holds a lock on the
customer row the customers projection must update, so the runner waits inside its batch, its checkpoint
unmoved, until the test lets it go.
"""

from __future__ import annotations

import json
import signal
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from hub import readiness
from interactions.api.context import CONTEXT
from interactions.models import Role
from tests.conftest import cloud_event, requires_postgresql
from tests.e2e import servers
from tests.e2e.test_read_models_runner import NAMES
from tests.e2e.test_subscription_runner import LEASE_SECONDS, runner_argv, wait_for
from tests.factories import ApiTokenFactory

pytestmark = [requires_postgresql, pytest.mark.django_db(transaction=True)]
HEADER = "Threadline-Position"
PHONE = "tel:+15551230000"
WEB, RUNNER = "threadline-e2e-web", "threadline-e2e-runner"
# The read that waits for the held runner: a bound far beyond what the test needs, so the test decides when
# the read is answered (by letting the runner go), not a clock.
PATIENT_SECONDS = "60"
# The read behind a stopped runner: a short bound, so the 503 comes soon.
IMPATIENT_SECONDS = "0.5"


@pytest.fixture(autouse=True)
def _runners_apply_the_read_models(settings):
    settings.THREADLINE_SUBSCRIPTIONS_EAGER = False  # in this process too (it appends nothing, but be sure)


class Hub:
    """A uvicorn server and a runner on the test database, with the project's settings."""

    def __init__(self, tmp_path, read_wait_seconds: str) -> None:
        self.port = servers.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.logs = tmp_path
        env = servers.production_env(
            THREADLINE_READ_WAIT_SECONDS=read_wait_seconds,
            THREADLINE_SUBSCRIPTION_LEASE_SECONDS=LEASE_SECONDS,
            THREADLINE_SUBSCRIPTION_POLL_SECONDS="0.5",
        )
        self.web_env = servers.with_application_name(env, WEB)
        self.runner_env = servers.with_application_name(env, RUNNER)
        self.writer = ApiTokenFactory(role=Role.INTEGRATION, source_prefix="/sms-gateway/")
        self.reader = ApiTokenFactory(role=Role.SUPERVISOR)

    def web(self):
        return servers.processes({"web": servers.uvicorn(self.port)}, self.web_env, self.logs)

    def runner(self, name: str = "runner"):
        return servers.processes({name: runner_argv(*NAMES)}, self.runner_env, self.logs)

    def post(self, text: str) -> tuple[dict, int]:
        status, headers, body = servers.exchange(
            f"{self.base}/api/v1/events",
            data=json.dumps(cloud_event(subject=PHONE, data={"channel": "sms", "text": text})).encode(),
            headers={
                "Content-Type": "application/cloudevents+json",
                "Authorization": f"Bearer {self.writer.raw}",
            },
        )
        assert status == 201, body
        assert int(headers[HEADER]) == body["position"]
        return body, body["position"]

    def context(self, min_position: int, *, timeout: float = 20):
        query = urllib.parse.urlencode({"identifier": PHONE, "min_position": min_position})
        return servers.exchange(
            f"{self.base}/api/v1/context?{query}",
            headers={"Authorization": f"Bearer {self.reader.raw}"},
            timeout=timeout,
        )


def sessions(application_name: str) -> list[tuple]:
    """(wait_event_type, query, query_start) of each open database session the named processes hold."""
    with psycopg.connect(servers.test_database_url(), autocommit=True) as conn:
        return conn.execute(
            "SELECT wait_event_type, query, query_start FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = %s",
            [application_name],
        ).fetchall()


def runner_waits_on_a_lock() -> bool:
    return any(wait == "Lock" for wait, _, _ in sessions(RUNNER))


def recent_texts(context: dict) -> list[str]:
    return [entry["text"] for thread in context["open_threads"] for entry in thread["recent"]]


def test_a_read_with_min_position_waits_for_a_slowed_runner_and_then_answers_with_the_write(tmp_path):
    hub = Hub(tmp_path, PATIENT_SECONDS)
    with hub.web(), hub.runner():
        servers.wait_ready(hub.base, tmp_path)
        first, first_position = hub.post("first")
        status, _, body = hub.context(first_position)  # the runner applies it within the patient bound
        assert status == 200 and recent_texts(body) == ["first"], body

        # Slow the runner down: hold the customer's read-model row, which its next batch must update.
        holder = psycopg.connect(servers.test_database_url())
        try:
            holder.execute(
                "SELECT id FROM interactions_customer WHERE id = %s FOR NO KEY UPDATE", [first["customer_id"]]
            )
            second, wanted = hub.post("second")
            assert second["customer_id"] == first["customer_id"]
            wait_for(runner_waits_on_a_lock, "the runner to wait inside its batch")
            assert readiness.position(CONTEXT) < wanted  # the read models have not applied the write

            with ThreadPoolExecutor(1) as pool:
                read = pool.submit(hub.context, wanted, timeout=2 * float(PATIENT_SECONDS))
                # The server is waiting: its session polls the checkpoints, again and again.
                polls: set = set()

                def server_polls_checkpoints() -> bool:
                    polls.update(
                        started for _, query, started in sessions(WEB) if '"hub_subscription"' in query
                    )
                    return len(polls) >= 2

                wait_for(server_polls_checkpoints, "the server to wait for the read models")
                assert not read.done()  # it cannot answer while the runner is held
                assert readiness.position(CONTEXT) < wanted
                holder.rollback()  # let the runner go
                status, headers, body = read.result(timeout=60)
        finally:
            holder.close()

    assert status == 200, body
    assert int(headers[HEADER]) >= wanted
    assert recent_texts(body) == ["first", "second"]  # the write is visible
    assert body["customer"]["id"] == first["customer_id"]


def test_a_read_with_min_position_beyond_a_stopped_runner_answers_503_with_both_positions(tmp_path):
    hub = Hub(tmp_path, IMPATIENT_SECONDS)
    with hub.web():
        servers.wait_ready(hub.base, tmp_path)
        with hub.runner() as started:
            _, first_position = hub.post("first")
            # The runner starts and catches up; a short bound, so ask until it has.
            wait_for(lambda: hub.context(first_position)[0] == 200, "the runner to apply the first write")
            started["runner"].send_signal(signal.SIGTERM)
            assert started["runner"].wait(20) == 0  # stopped: it gave its leases back

        _, wanted = hub.post("second")
        applied = readiness.position(CONTEXT)
        status, headers, body = hub.context(wanted)

        assert status == 503, body
        assert headers["Content-Type"] == "application/problem+json"
        assert headers["Retry-After"] == "1"
        assert HEADER not in headers  # a refused read carries no position of a read model in the header
        assert body["type"].endswith("/not-caught-up")
        assert body["min_position"] == wanted
        assert first_position <= body["position"] == applied < wanted

        # A runner again: the same read is answered, with the write.
        with hub.runner("runner-again"):
            wait_for(lambda: hub.context(wanted)[0] == 200, "a new runner to apply the second write")
        status, headers, body = hub.context(wanted)
    assert status == 200 and int(headers[HEADER]) >= wanted
    assert recent_texts(body) == ["first", "second"]
