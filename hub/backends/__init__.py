"""The one seam between the kernel and its database: a PostgreSQL and a SQLite implementation of `Backend`.

Code that needs what the two databases do differently (ordering appends, advisory locks, wake-ups, bulk
reads and writes) asks `backend()` for the implementation of the connection in use, instead of testing the
vendor itself. `tests/hub/contract.py` holds the expectations both implementations meet.
"""

from __future__ import annotations

from django.db import connection

from hub.backends.base import Backend


def backend() -> Backend:
    """The implementation for the default connection's database."""
    vendor = connection.vendor
    if vendor not in _backends:
        if vendor == "postgresql":
            from hub.backends.postgresql import PostgresqlBackend

            _backends[vendor] = PostgresqlBackend()
        elif vendor == "sqlite":
            from hub.backends.sqlite import SqliteBackend

            _backends[vendor] = SqliteBackend()
        else:
            raise NotImplementedError(f"Threadline runs on PostgreSQL or SQLite, not {vendor}")
    return _backends[vendor]


_backends: dict[str, Backend] = {}

__all__ = ["Backend", "backend"]
