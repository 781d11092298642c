"""A database that lacks migrations of this code: /readyz says not ready (tests/interactions/test_health.py),
and every command of the hub refuses to run, saying to migrate, not with a traceback from a missing table."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

from hub import schema
from hub.models import Subscription
from tests.conftest import latest_migration

pytestmark = pytest.mark.django_db

COMMANDS = [
    ("subscriptions",),
    ("run_subscriptions",),
    ("rebuild_projections",),
    ("create_token", "gw", "--role", "agent"),
    ("revoke_token", "00000000-0000-0000-0000-000000000000"),
    ("create_user", "ann", "--role", "agent", "--password", "correct horse battery staple"),
    ("createsuperuser", "--noinput", "--username", "ada", "--email", "ada@example.com"),
    ("add_connection", "email", "mail", "--secret", "0" * 32),
    ("nba_takeup",),
]


@pytest.mark.parametrize("args", COMMANDS, ids=[args[0] for args in COMMANDS])
def test_a_command_on_a_database_lacking_a_migration_says_to_migrate_and_does_nothing(monkeypatch, args):
    monkeypatch.setattr(schema, "_all_applied", False)  # as a process that has not looked yet
    latest = latest_migration("people")
    MigrationRecorder(connection).record_unapplied("people", latest)  # rolled back with the test

    with pytest.raises(CommandError) as refused:
        call_command(*args, stdout=io.StringIO(), stderr=io.StringIO())

    assert str(refused.value) == (
        f"the database has 1 migration of this code not applied (people.{latest}): run manage.py migrate"
        " first"
    )
    assert not Subscription.objects.exists()  # not even the rows `subscriptions` makes


def test_once_every_migration_is_applied_a_process_does_not_look_again(django_assert_num_queries):
    schema.require_applied()
    with django_assert_num_queries(0):
        assert schema.unapplied() == []


@pytest.mark.parametrize("args", COMMANDS, ids=[args[0] for args in COMMANDS])
def test_a_command_that_cannot_reach_the_database_says_so_in_one_sentence(args):
    # It was a driver's traceback. (Port 1: nothing listens there, so the connection is refused at once.)
    env = {**os.environ, "DATABASE_URL": "postgres://postgres@127.0.0.1:1/threadline"}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # manage.py's own: the production settings

    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(
        "CommandError: cannot reach the database (DATABASE_URL): connection failed:"
    )
    assert "port 1 failed: Connection refused" in done.stderr
