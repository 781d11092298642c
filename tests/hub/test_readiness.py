"""How far the read models behind a read have applied the log (hub.readiness.position), read in one statement:
a healthy inline projector has applied the head, a failed one its checkpoint, a subscription its own position,
a read model with no row nothing; a read behind several is at the lowest of them."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hub import log, projections, readiness, subscriptions
from hub.models import ProjectionCheckpoint, Subscription
from tests.interactions.helpers import post

pytestmark = pytest.mark.django_db


@pytest.fixture
def names(api) -> tuple[str, str]:
    """An inline projector and a subscription, each with its row, and a log of three events."""
    for n in range(3):
        post(api, id=f"readiness-{n}")
    inline = sorted(projections.inline_names())[0]
    subscription = subscriptions.registered()[0]
    subscriptions.ensure_rows([subscription])
    Subscription.objects.filter(name=subscription).update(position=2)
    projections.set_checkpoints([inline], 1)
    return inline, subscription


def test_a_healthy_inline_projector_has_applied_the_head_and_a_subscription_its_position(names):
    inline, subscription = names
    head = log.last_position()
    assert head >= 3
    assert readiness.position([inline]) == head
    assert readiness.position([subscription]) == 2
    assert readiness.position([inline, subscription]) == 2


def test_a_failed_inline_projector_has_applied_its_checkpoint(names):
    inline, subscription = names
    ProjectionCheckpoint.objects.filter(name=inline).update(position=1, last_error="boom")
    assert readiness.position([inline]) == 1
    assert readiness.position([subscription, inline]) == 1


def test_a_read_model_with_no_row_has_applied_nothing(names):
    inline, _ = names
    assert readiness.position(["no-such-read-model"]) == 0
    assert readiness.position([inline, "no-such-read-model"]) == 0


def test_the_positions_are_read_in_one_statement(names):
    with CaptureQueriesContext(connection) as captured:
        readiness.position(list(names))
    assert len(captured) == 1
