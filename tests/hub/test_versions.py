"""Projection versions: each read model records the version of its projector that built it; an older one is
reported (status, the subscriptions command, the runner's log) until a rebuild replaces the rows."""

from __future__ import annotations

import io
import logging

import pytest
from django.core.management import call_command

from hub import projections, store, subscriptions
from hub.events import NewEvent
from hub.models import ProjectionCheckpoint, Subscription
from hub.runner import Runner
from hub.versions import version_of

pytestmark = pytest.mark.django_db


def post(*types: str) -> None:
    store.append([NewEvent(source="/t", id=f"v{next(_ids)}", type=t, stream="s", data={}) for t in types])


_ids = iter(range(1, 10**6))


def handler(name: str):
    return next(h for h in subscriptions.handlers() if h.name == name)


def built(name: str) -> int:
    return Subscription.objects.get(name=name).built_version


def test_a_subscription_starting_on_the_log_is_built_by_its_current_version(monkeypatch):
    Subscription.objects.filter(name="tally").delete()
    monkeypatch.setattr(handler("tally"), "version", 3, raising=False)

    subscriptions.ensure_rows(["tally"])

    assert built("tally") == 3
    (status,) = subscriptions.status(["tally"])
    assert (status.version, status.built_version) == (3, 3)
    assert status.as_dict()["built_version"] == 3
    assert subscriptions.outdated([status]) == []


def test_a_subscription_an_older_version_built_is_reported_until_a_rebuild(monkeypatch, settings, caplog):
    settings.THREADLINE_SUBSCRIPTIONS_EAGER = False
    post("tally.counted")
    subscriptions.ensure_rows(["tally", "mirror"])
    assert built("tally") == 1  # what every projector was before it declared a version
    monkeypatch.setattr(handler("tally"), "version", 2, raising=False)  # a deploy changed it

    warning = (
        "subscription tally was built by version 1 of its projector and this code is version 2: its rows mix"
        " what both made until it is rebuilt (manage.py rebuild_projections --online tally)"
    )
    assert subscriptions.outdated(subscriptions.status(["tally", "mirror"])) == [warning]
    err = io.StringIO()
    call_command("subscriptions", stdout=io.StringIO(), stderr=err)
    assert f"warning: {warning}" in err.getvalue().splitlines()
    with caplog.at_level(logging.WARNING, logger="hub.runner"):
        Runner(["tally"], owner="r1").announce()  # what run() does first
    assert any(warning in record.getMessage() for record in caplog.records)

    call_command("rebuild_projections", stdout=io.StringIO(), stderr=io.StringIO())

    assert built("tally") == 2 and built("mirror") == 1
    assert subscriptions.outdated(subscriptions.status(["tally", "mirror"])) == []


def test_an_inline_projection_an_older_version_built_is_reported_until_an_offline_rebuild(monkeypatch):
    placement = next(p for p in projections.projectors() if p.name == "placement")
    built = version_of(placement)  # the version this code declares, which built the checkpoint's rows
    # Said outright, whatever checkpoint earlier tests left (under xdist a worker's earlier files differ).
    ProjectionCheckpoint.objects.update_or_create(
        name="placement", defaults={"position": 0, "built_version": built}
    )
    newer = built + 1
    monkeypatch.setattr(placement, "version", newer, raising=False)

    assert projections.outdated() == [
        f"projection placement was built by version {built} of its projector and this code is version"
        f" {newer}: its rows mix what both made until it is rebuilt (manage.py rebuild_projections)"
    ]
    by_name = {p["name"]: p for p in projections.status()}
    assert (by_name["placement"]["version"], by_name["placement"]["built_version"]) == (newer, built)

    call_command("rebuild_projections", stdout=io.StringIO(), stderr=io.StringIO())

    assert ProjectionCheckpoint.objects.get(name="placement").built_version == newer
    assert projections.outdated() == []


def test_an_inline_projection_with_no_checkpoint_yet_starts_at_its_current_version(monkeypatch):
    callbacks = next(p for p in projections.projectors() if p.name == "callbacks")
    ProjectionCheckpoint.objects.filter(name="callbacks").delete()
    monkeypatch.setattr(callbacks, "version", 2, raising=False)

    projections.catch_up()  # a projector with no checkpoint applies the log from 0 and records one

    assert ProjectionCheckpoint.objects.get(name="callbacks").built_version == 2
    assert projections.outdated() == []


def test_a_fresh_database_is_current_whatever_version_its_migrations_wrote(monkeypatch):
    # Migrations insert placement's checkpoint with SQL, at the column's default (1): a fresh database
    # was reported as built by an older version once placement declared version 2.
    placement = next(p for p in projections.projectors() if p.name == "placement")
    monkeypatch.setattr(placement, "version", 2, raising=False)
    ProjectionCheckpoint.objects.update_or_create(name="placement", defaults={"built_version": 1})

    call_command("migrate", verbosity=0)  # nothing to migrate; its post_migrate still runs

    assert ProjectionCheckpoint.objects.get(name="placement").built_version == 2
    assert projections.outdated() == []


def test_a_database_with_events_keeps_the_version_that_built_it_through_a_migrate(monkeypatch):
    post("tally.counted")
    placement = next(p for p in projections.projectors() if p.name == "placement")
    monkeypatch.setattr(placement, "version", 2, raising=False)
    ProjectionCheckpoint.objects.update_or_create(name="placement", defaults={"built_version": 1})

    call_command("migrate", verbosity=0)

    assert ProjectionCheckpoint.objects.get(name="placement").built_version == 1  # an upgrade: still said
