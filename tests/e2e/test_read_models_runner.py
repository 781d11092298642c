"""The read models applied by real runner processes, off the request's path, equal an offline rebuild,
even when the runner is killed part-way (PostgreSQL)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from hub.models import StoredEvent, Subscription
from hub.rebuild import rebuild
from interactions import projections
from interactions.agents import services as presence
from interactions.models import AgentPresence, Customer, CustomerIdentifier, Role, Thread, TimelineEntry
from tests.conftest import client_for, requires_postgresql
from tests.e2e import servers
from tests.e2e.test_subscription_runner import runner_argv, runner_env, wait_for
from tests.factories import ApiTokenFactory
from tests.interactions.helpers import post

pytestmark = [requires_postgresql, pytest.mark.django_db(transaction=True)]
READ_MODELS = (Customer, CustomerIdentifier, Thread, TimelineEntry, AgentPresence)
NAMES = [p.name for p in projections.subscribed()]


@pytest.fixture(autouse=True)
def _runners_apply_the_read_models(settings):
    settings.THREADLINE_SUBSCRIPTIONS_EAGER = False


def state() -> dict[str, list[dict]]:
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in READ_MODELS}


def journey(count: int) -> None:
    integration = ApiTokenFactory(role=Role.INTEGRATION, source_prefix="/sms-gateway/")
    api = client_for(integration)
    supervisor = client_for(ApiTokenFactory(role=Role.SUPERVISOR))
    agent = ApiTokenFactory(role=Role.AGENT)
    presence.agent_status_set(agent=agent, status="available")
    for i in range(count):
        phone = f"tel:+1555100{i % 7:04d}"
        answer = post(
            api, subject=phone, data={"channel": "sms", "text": f"message {i}", "topic": f"t{i % 3}"}
        )
        if i % 5 == 0:
            post(api, subject=f"mailto:c{i % 7}@example.com", data={"channel": "email", "text": "hi"})
            post(
                api,
                subject=phone,
                data={"channel": "sms", "text": "me", "identifiers": [f"mailto:c{i % 7}@example.com"]},
            )
        if i % 9 == 0:
            supervisor.post(f"/api/v1/threads/{answer['thread_id']}/resolve")
    presence.agent_status_set(agent=agent, status="busy")


def caught_up() -> bool:
    head = StoredEvent.objects.order_by("-position").values_list("position", flat=True).first()
    return Subscription.objects.filter(name__in=NAMES, position=head).count() == len(NAMES)


def test_a_runner_killed_part_way_and_started_again_leaves_the_read_models_equal_to_an_offline_rebuild(
    tmp_path,
):
    journey(60)
    assert Customer.objects.count() == 0  # nothing applied them in the request

    with servers.processes({"runner": runner_argv(*NAMES)}, runner_env(), tmp_path) as started:
        wait_for(
            lambda: Subscription.objects.filter(name__in=NAMES, position__gt=0).exists(), "a first batch"
        )
        os.killpg(started["runner"].pid, signal.SIGKILL)
        started["runner"].wait(10)
    time.sleep(float(runner_env()["THREADLINE_SUBSCRIPTION_LEASE_SECONDS"]))  # its lease runs out
    with servers.processes({"runner": runner_argv(*NAMES)}, runner_env(), tmp_path):
        wait_for(caught_up, "the new runner to apply the whole log")

    applied = state()
    assert applied["Customer"] and applied["TimelineEntry"] and applied["AgentPresence"]
    rebuild()
    assert state() == applied
