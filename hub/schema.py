"""Whether the database holds every migration this code has: a process started before `migrate` ran (a fresh
database, or an upgrade that added one) answers requests from tables or columns that are not there yet."""

from __future__ import annotations

from django.db import connection
from django.db.migrations.executor import MigrationExecutor

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
