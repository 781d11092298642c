"""Health: /healthz (the process is up) and /readyz (the database answers; each projection's state)."""

from __future__ import annotations

from django.db import connection
from django.http import JsonResponse

from hub import projections
from interactions.api.problems import problem


def healthz(request) -> JsonResponse:
    """The process is up."""
    return JsonResponse({"status": "ok"})


def readyz(request) -> JsonResponse:
    """The database answers; each projection's checkpoint and last error."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any driver error means "not ready"; the detail goes to the body
        body = problem(503, "not-ready", f"the database is not reachable: {exc.__class__.__name__}")
        return JsonResponse(body, status=503, content_type="application/problem+json")
    # A failed projection does not make the hub unready (events are still accepted and kept); it is reported.
    return JsonResponse(
        {"status": "ready", "database": connection.vendor, "projections": projections.status()}
    )
