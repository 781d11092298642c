"""Online rebuild with real processes (PostgreSQL): `rebuild_projections --online` while a runner applies
the read models and appends go on ends equal to an offline rebuild; a rebuild killed mid-replay leaves the
live tables as they were, and the next run resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest
from django.db import connection

from hub.models import StoredEvent, Subscription, SubscriptionState
from hub.rebuild import online, rebuild
from interactions import projections
from interactions.models import Role
from tests.conftest import client_for, requires_postgresql
from tests.e2e import servers
from tests.e2e.test_read_models_runner import NAMES, caught_up, journey
from tests.e2e.test_subscription_runner import runner_argv, runner_env, wait_for
from tests.factories import ApiTokenFactory
from tests.hub.test_rebuild_online import TABLES, _no_shadow_left_behind, oids, state  # noqa: F401
from tests.interactions.helpers import post

pytestmark = [requires_postgresql, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _runners_apply_the_read_models(settings):
    settings.THREADLINE_SUBSCRIPTIONS_EAGER = False


def rebuild_argv(*extra: str) -> list[str]:
    return [sys.executable, "manage.py", "rebuild_projections", "--online", *extra]


class Appenders:
    """Threads posting events through the API (placement, inline projections, the log) until stopped."""

    def __init__(self, count: int) -> None:
        self.api = client_for(ApiTokenFactory(role=Role.INTEGRATION, source_prefix="/sms-gateway/"))
        self.stopping = threading.Event()
        self.positions: list[int] = []
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._post, args=(i,)) for i in range(count)]

    def _post(self, i: int) -> None:
        n = 0
        try:
            while not self.stopping.is_set():
                n += 1
                subject = f"tel:+1555200{(i * 31 + n) % 50:04d}"
                text = {"channel": "sms", "text": f"during {i}/{n}", "topic": f"t{n % 2}"}
                self.positions.append(post(self.api, subject=subject, data=text)["position"])
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)
        finally:
            connection.close()

    def __enter__(self) -> Appenders:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(60)


def test_online_rebuild_under_concurrent_ingest_with_a_runner_ends_equal_to_an_offline_rebuild(tmp_path):
    journey(40)
    head_before = StoredEvent.objects.order_by("-position").values_list("position", flat=True).first()
    live_oids = oids()
    with servers.processes({"runner": runner_argv(*NAMES)}, runner_env(), tmp_path) as started:
        wait_for(caught_up, "the runner to apply the log")
        with Appenders(2) as appenders:
            wait_for(lambda: len(appenders.positions) >= 3, "appends to flow")
            before_rebuild = len(appenders.positions)
            done = subprocess.run(
                rebuild_argv("--page-size", "5"),
                cwd=servers.ROOT,
                env=runner_env(),
                capture_output=True,
                text=True,
                timeout=300,
            )
            during = len(appenders.positions)
            wait_for(lambda: len(appenders.positions) >= during + 3, "appends after the rebuild")
        assert done.returncode == 0, done.stderr
        assert not appenders.errors, appenders.errors
        assert during > before_rebuild  # appends went on while the rebuild ran
        rebuilt = ", ".join(p.name for p in projections.subscribed())  # the project's (no test app here)
        assert f"Rebuilt {rebuilt} online" in done.stdout
        assert max(appenders.positions) > head_before
        wait_for(caught_up, "the runner to apply the appends made during and after the rebuild")
        assert started["runner"].poll() is None  # the runner ran through the rebuild and the swap
        assert not Subscription.objects.filter(name__in=NAMES).exclude(state=SubscriptionState.RUNNING)
    assert "parked" not in (tmp_path / "runner.log").read_text()
    assert all(oids()[t] != live_oids[t] for t in TABLES)  # the rebuilt tables serve
    applied = state()
    rebuild()
    assert state() == applied


def test_a_rebuild_killed_mid_replay_leaves_the_live_tables_and_the_next_run_resumes(tmp_path):
    journey(80)
    with servers.processes({"runner": runner_argv(*NAMES)}, runner_env(), tmp_path):
        wait_for(caught_up, "the runner to apply the log")
        before, live_oids = state(), oids()
        with servers.processes({"rebuild": rebuild_argv("--page-size", "2")}, runner_env(), tmp_path) as run:
            wait_for(lambda: any(online.progress_of_shadow().values()), "the rebuild's first pages")
            os.killpg(run["rebuild"].pid, signal.SIGKILL)
            run["rebuild"].wait(10)
        reached = online.progress_of_shadow()
        head = StoredEvent.objects.order_by("-position").values_list("position", flat=True).first()
        assert set(reached) == set(NAMES) and 0 < min(reached.values()) < head  # killed part-way
        assert state() == before and oids() == live_oids

        done = subprocess.run(
            rebuild_argv("--page-size", "50"),
            cwd=servers.ROOT,
            env=runner_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        assert f"resumed from position {min(reached.values())}" in done.stdout
        wait_for(caught_up, "the runner after the swap")
    applied = state()
    rebuild()
    assert state() == applied
