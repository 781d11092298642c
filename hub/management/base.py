"""The base of the hub's management commands: each refuses, with a sentence, to run on a database that lacks
migrations of this code (it failed on the first missing table with a traceback)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError

from hub import schema


def require_migrated() -> None:
    """CommandError naming what to run, unless the database has every migration of this code; CommandError
    saying so, with the driver's own words, when the database cannot be reached (down, a wrong DATABASE_URL,
    a refused password)."""
    try:
        schema.require_applied()
    except schema.NotMigrated as exc:
        raise CommandError(exc.detail) from None
    except OperationalError as exc:
        said = " ".join(str(exc).split())
        raise CommandError(f"cannot reach the database (DATABASE_URL): {said}") from None


class MigratedCommand(BaseCommand):
    """A command that reads or writes the hub's tables: it runs only once they are all there."""

    def execute(self, *args, **options):
        require_migrated()
        return super().execute(*args, **options)
