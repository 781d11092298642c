"""Shared fixtures: tokens, an API client, event builders, and database helpers."""

from __future__ import annotations

import importlib
import itertools
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from celery.app.task import Task
from celery.signals import task_postrun
from django.core.management.color import no_style
from django.db import connection, connections
from django.db.backends.signals import connection_created
from django.test import TransactionTestCase
from rest_framework.test import APIClient

from config.celery import app as celery_app
from config.settings import BASE_DIR
from hub.models import StoredEvent
from interactions.models import Role
from tests.factories import ApiTokenFactory

# The backend contract's base cases live outside test modules; rewrite their asserts as pytest does a test's.
pytest.register_assert_rewrite("tests.hub.contract")


def _allow_test_truncate(sender, connection, **kwargs) -> None:
    # Transactional tests end with a flush, which TRUNCATEs every table on PostgreSQL; the log refuses
    # TRUNCATE unless the session sets this (tests of that refusal turn it off again).
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET threadline.allow_truncate = on")


connection_created.connect(_allow_test_truncate)


def _sqlite_log_triggers(install: bool) -> None:
    migration = importlib.import_module("hub.migrations.0002_append_only")
    statements = migration.SQLITE_INSTALL if install else migration.SQLITE_REMOVE
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement.replace("CREATE TRIGGER", "CREATE TRIGGER IF NOT EXISTS"))


@pytest.fixture(autouse=True)
def _sqlite_flushable_log(request):
    """On SQLite, Django's flush after a transactional test DELETEs every row, which the log refuses.

    The append-only triggers are dropped just for that flush (this teardown runs before it) and installed
    again before every test that uses the database, so each test runs with them.
    """
    marker = request.node.get_closest_marker("django_db")
    if connection.vendor != "sqlite" or marker is None:
        yield
        return
    transactional = marker.kwargs.get("transaction", False)
    request.getfixturevalue("transactional_db" if transactional else "db")
    _sqlite_log_triggers(install=True)
    yield
    if transactional:
        _sqlite_log_triggers(install=False)


# Tables a transactional test's flush leaves as they are: only migrate fills them (its post_migrate: content
# types and permissions), and no test writes them.
_KEPT_TABLES = frozenset({"django_content_type", "auth_permission"})
_django_fixture_teardown = TransactionTestCase._fixture_teardown


def _flush_written_tables(self: TransactionTestCase) -> None:
    """TransactionTestCase's teardown, emptying only the tables the test left rows in.

    Django's flush empties every table and then fills content types and permissions again (post_migrate): on
    PostgreSQL a TRUNCATE of all 51 tables and that refill took about 0.3 s after every transactional test,
    most of their time. Emptied this way the database is as Django's flush leaves it (the kept tables as
    migrate filled them). Tables that refer to an emptied one are emptied with it (CASCADE on PostgreSQL;
    on SQLite, Django's flush follows the same references)."""
    if self.available_apps is not None or self.serialized_rollback:
        _django_fixture_teardown(self)  # Django's own flush, which those need
        return
    for name in self._databases_names(include_mirrors=False):
        conn = connections[name]
        tables = [
            t
            for t in conn.introspection.django_table_names(only_existing=True, include_views=False)
            if t not in _KEPT_TABLES
        ]
        quote = conn.ops.quote_name
        probe = " UNION ALL ".join(
            f"SELECT {n} WHERE EXISTS (SELECT 1 FROM {quote(t)})" for n, t in enumerate(tables)
        )
        with conn.cursor() as cursor:
            cursor.execute(probe)
            written = [tables[n] for (n,) in cursor.fetchall()]
        if written:
            conn.ops.execute_sql_flush(conn.ops.sql_flush(no_style(), written, allow_cascade=True))


TransactionTestCase._fixture_teardown = _flush_written_tables


requires_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="about PostgreSQL behaviour (concurrent writers, locks); set DATABASE_URL to a PostgreSQL server",
)
requires_sqlite = pytest.mark.skipif(
    connection.vendor != "sqlite",
    reason="about SQLite behaviour (the embedded default); run without DATABASE_URL to use SQLite",
)


def run_python(*args: str, env: dict[str, str], cwd: Path = BASE_DIR) -> subprocess.CompletedProcess:
    """`python *args` (a script and its arguments, or `-c` and code) in `cwd` (the project's directory) with
    `env`, its output captured as text."""
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


_ids = itertools.count(1)


def latest_migration(app_label: str) -> str:
    """The name of an app's last migration (a leaf of the graph): the one a test can mark unapplied to stand
    for a database that an upgrade's `migrate` has not reached yet."""
    from django.db.migrations.loader import MigrationLoader

    (name,) = [
        n
        for app, n in MigrationLoader(None, ignore_no_migrations=True).graph.leaf_nodes()
        if app == app_label
    ]
    return name


def cloud_event(**overrides: Any) -> dict[str, Any]:
    """A valid structured-mode event; keyword arguments replace attributes (None removes one)."""
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": f"evt-{next(_ids)}",
        "source": "/sms-gateway/eu-1",
        "type": "message.received",
        "subject": "tel:+15551234567",
        "time": "2026-11-23T10:00:00Z",
        "data": {"channel": "sms", "text": "Hello, my bill looks wrong"},
    }
    for key, value in overrides.items():
        if value is None:
            event.pop(key, None)
        else:
            event[key] = value
    return event


@pytest.fixture
def integration_token(db):
    return ApiTokenFactory(role=Role.INTEGRATION, source_prefix="/sms-gateway/")


@pytest.fixture
def api(integration_token) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {integration_token.raw}")
    return client


def client_for(token) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.raw}")
    return client


def ingested():
    """The events integrations posted (the log also holds the hub's own customer and thread events)."""
    return StoredEvent.objects.exclude(source="/threadline").order_by("position")


def log_snapshot() -> list[tuple]:
    """Everything in the log, to compare before and after a request that must not write."""
    return list(
        StoredEvent.objects.order_by("position").values_list("position", "source", "event_id", "data")
    )


def store_snapshot() -> dict[str, list]:
    """The log, every read model and the projections' checkpoints, to compare before and after a request
    that must change nothing."""
    from hub.models import ProjectionCheckpoint
    from interactions.models import (
        AgentPresence,
        Callback,
        ConversationRef,
        Customer,
        CustomerIdentifier,
        Thread,
        TimelineEntry,
    )
    from interactions.nba.models import RuleTakeUp
    from interactions.reachability.models import ReachFact

    models = (
        Customer, CustomerIdentifier, Thread, ConversationRef, TimelineEntry, Callback, AgentPresence,
        ProjectionCheckpoint, ReachFact, RuleTakeUp,
    )  # fmt: skip
    return {"log": log_snapshot()} | {m.__name__: list(m.objects.order_by("pk").values()) for m in models}


@pytest.fixture
def supervisor_token(db):
    return ApiTokenFactory(role=Role.SUPERVISOR)


@pytest.fixture
def supervisor_api(supervisor_token) -> APIClient:
    return client_for(supervisor_token)


@pytest.fixture
def agent_token(db):
    return ApiTokenFactory(role=Role.AGENT, skills=["billing"])


@pytest.fixture
def agent_api(agent_token) -> APIClient:
    return client_for(agent_token)


@pytest.fixture
def eager_celery():
    """Tasks sent with apply_async run at once in the sending thread, through the real app's task registry
    (a countdown is not waited for); a task's exception reaches the sender."""
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager = conf.task_eager_propagates = True
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved


@pytest.fixture
def celery_runs():
    """(task name, args, kwargs) of every task Celery ran during the test, in order, as its signal reports."""
    runs: list[tuple[str, tuple, dict]] = []

    def record(sender=None, args=None, kwargs=None, **_):
        runs.append((sender.name, tuple(args or ()), dict(kwargs or {})))

    task_postrun.connect(record, weak=False)
    yield runs
    task_postrun.disconnect(record)


@pytest.fixture
def enqueued(monkeypatch) -> list[tuple[str, tuple, dict]]:
    """Every Celery message the hub sends: (task name, args, kwargs), recorded instead of sent (the card
    corpora look for numbers in them)."""
    sent: list[tuple[str, tuple, dict]] = []

    def record(task, args=None, kwargs=None, **options):
        sent.append((task.name, tuple(args or ()), dict(kwargs or {})))

    monkeypatch.setattr(Task, "apply_async", record)
    return sent


@pytest.fixture
def fast_passwords(settings) -> None:
    """Passwords hashed with one round of MD5, for tests that create or sign in hundreds of people: the
    default PBKDF2 costs about a third of a second a hash, and hashing is not what those tests are about."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
