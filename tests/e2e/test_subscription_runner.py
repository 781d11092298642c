"""Real runner processes on PostgreSQL: killed mid-batch, two at once, one taking over from a dead one."""

from __future__ import annotations

import os
import signal
import sys
import time

import psycopg
import pytest

from hub import store
from hub.events import NewEvent
from hub.models import Subscription
from tests.conftest import requires_postgresql
from tests.e2e import servers
from tests.hub.tally.models import Gate, Tallied

pytestmark = [requires_postgresql, pytest.mark.django_db(transaction=True)]
LEASE_SECONDS = "2"
DEADLINE = 60


def runner_argv(*names: str) -> list[str]:
    return [sys.executable, "manage.py", "run_subscriptions", *names]


def runner_env() -> dict[str, str]:
    return servers.server_env(
        DJANGO_SETTINGS_MODULE="tests.settings",
        THREADLINE_SUBSCRIPTION_LEASE_SECONDS=LEASE_SECONDS,
        THREADLINE_SUBSCRIPTION_POLL_SECONDS="0.5",
    )


@pytest.fixture(autouse=True)
def _runners_apply_subscriptions(settings):
    """These tests are about applying subscriptions: nothing applies them in place."""
    settings.THREADLINE_SUBSCRIPTIONS_EAGER = False


def post(count: int, prefix: str) -> list[int]:
    events = [
        NewEvent(source="/t", id=f"{prefix}-{i}", type="tally.counted", stream="s", data={})
        for i in range(count)
    ]
    return [r.position for r in store.append(events)]


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def caught_up(name: str, head: int) -> bool:
    return Subscription.objects.filter(name=name, position=head).exists()


def tallied(name: str) -> list[int]:
    return list(
        Tallied.objects.filter(subscription=name).order_by("position").values_list("position", flat=True)
    )


def kill(process) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def waiting_on_a_lock() -> int:
    with psycopg.connect(servers.test_database_url(), autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()[0]


def test_a_runner_killed_after_applying_a_batch_but_before_committing_leaves_nothing_half_done(tmp_path):
    positions = post(5, "a")
    Gate.objects.create(id=1)
    holder = psycopg.connect(servers.test_database_url())
    holder.execute("SELECT id FROM tally_gate WHERE id = 1 FOR UPDATE")  # the handler will wait here
    try:
        with servers.processes({"runner": runner_argv("tally")}, runner_env(), tmp_path) as started:
            # The runner wrote its tally rows and waits at the gate, before its checkpoint advances.
            wait_for(lambda: waiting_on_a_lock() == 1, "the runner to wait inside its batch")
            kill(started["runner"])
    finally:
        holder.rollback()
        holder.close()
    wait_for(lambda: waiting_on_a_lock() == 0, "the killed runner's transaction to end")
    assert tallied("tally") == [] and Subscription.objects.get(name="tally").position == 0

    with servers.processes({"runner": runner_argv("tally")}, runner_env(), tmp_path):
        wait_for(lambda: caught_up("tally", positions[-1]), "a new runner to apply the log")

    assert tallied("tally") == positions  # each event once: nothing lost, nothing twice


def test_two_runners_never_share_a_subscription_and_one_takes_over_when_the_other_dies(tmp_path):
    first = post(20, "b")
    specs = {"one": runner_argv("tally", "mirror"), "two": runner_argv("tally", "mirror")}
    with servers.processes(specs, runner_env(), tmp_path) as started:
        wait_for(lambda: caught_up("tally", first[-1]) and caught_up("mirror", first[-1]), "both to catch up")
        owner = Subscription.objects.get(name="tally").lease_owner
        assert owner  # exactly one runner holds it
        assert tallied("tally") == first and tallied("mirror") == first

        # Kill whichever runner holds `tally`; the other takes it over once the lease expires.
        victim = next(name for name, p in started.items() if f":{p.pid}:" in owner)
        kill(started[victim])
        second = post(10, "c")
        wait_for(lambda: caught_up("tally", second[-1]), "the surviving runner to take tally over")
        wait_for(lambda: caught_up("mirror", second[-1]), "mirror to catch up")

        new_owner = Subscription.objects.get(name="tally").lease_owner
        survivor = next(p for name, p in started.items() if name != victim)
        assert f":{survivor.pid}:" in new_owner
    assert tallied("tally") == first + second and tallied("mirror") == first + second


def test_a_runner_is_woken_by_the_appends_notify_not_by_its_poll_and_stops_while_it_waits(tmp_path):
    """With a poll and a lease of an hour (a runner also wakes three times a lease), only the append's
    NOTIFY can make the runner apply a new event within the test's minute; and SIGTERM stops it while it
    waits for the next one, giving its lease back (it went on waiting, and was killed)."""
    env = {
        **runner_env(),
        "THREADLINE_SUBSCRIPTION_POLL_SECONDS": "3600",
        "THREADLINE_SUBSCRIPTION_LEASE_SECONDS": "3600",
    }
    first = post(3, "w")  # before it starts: its first pass applies them, then it listens
    with servers.processes({"runner": runner_argv("tally")}, env, tmp_path) as started:
        wait_for(lambda: caught_up("tally", first[-1]), "the runner to apply the first events")
        time.sleep(1)  # the runner is waiting now, its next poll an hour away
        second = post(2, "x")
        wait_for(lambda: caught_up("tally", second[-1]), "the runner, woken by NOTIFY, to apply the next")
        assert Subscription.objects.get(name="tally").lease_owner != ""
        time.sleep(1)  # waiting again

        runner = started["runner"]
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(DEADLINE) == 0  # by itself: the block's end would kill it after 20 s
    assert tallied("tally") == first + second
    assert Subscription.objects.get(name="tally").lease_owner == ""  # given back, not left to expire
    assert "stopped; its leases are released" in (tmp_path / "runner.log").read_text()
