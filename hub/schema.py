"""Whether the database holds every migration this code has: a process started before `migrate` ran (a fresh
database, or an upgrade that added one) answers requests from tables or columns that are not there yet."""

from __future__ import annotations

from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from hub.errors import ApplicationError

_all_applied = False  # once seen, not looked at again: a running hub's migrations are not unapplied


def unapplied() -> list[str]:
    """The migrations ("app.name") this code has and the database has not applied; [] once all are. While
    some are not, each call reads the migration files and the database's record of them again."""
    global _all_applied
    if _all_applied:
        return []
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    pending = [f"{migration.app_label}.{migration.name}" for migration, backwards in plan if not backwards]
    _all_applied = not pending
    return pending


class NotMigrated(ApplicationError):
    """The database lacks migrations this code has: run `manage.py migrate` first."""


def require_applied() -> None:
    """NotMigrated, naming what to run, unless the database has every migration this code has."""
    pending = unapplied()
    if pending:
        many = len(pending) != 1
        raise NotMigrated(
            f"the database has {len(pending)} migration{'s' if many else ''} of this code not applied"
            f" ({', '.join(pending[:3])}{', ...' if len(pending) > 3 else ''}): run manage.py migrate first"
        )
