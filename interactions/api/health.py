"""Health: /healthz (the process is up) and /readyz (ready or not; the details for supervisors and admins)."""

from __future__ import annotations

import logging

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import AuthenticationFailed

from hub import projections, schema, subscriptions
from hub.errors import ApplicationError
from interactions.access.rules import may_read_health_details, require_may_read_health_details
from interactions.api.auth import BearerTokenAuthentication
from interactions.api.problems import PROBLEM_CONTENT_TYPE, error_problem, method_not_allowed, problem
from interactions.people.selectors import person_principal

logger = logging.getLogger(__name__)


# Probes read: anything else is a 405 problem (exempt from CSRF, whose refusal is an HTML page).
SAFE = ("GET", "HEAD")


@csrf_exempt
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up."""
    if request.method not in SAFE:
        return method_not_allowed("GET, HEAD")
    return JsonResponse({"status": "ok"})


@csrf_exempt
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready (200) or not (503), for anyone: a load balancer or an orchestrator needs no token, and learns
    nothing else. With a supervisor's or admin's bearer token, the details: the database vendor, each inline
    projection's checkpoint and last error, and each subscription's position, lag, state and last failure
    (the raw text of a failure is for operators only); the same for a supervisor or admin signed in, in the
    browser. Anyone else's session (an agent's, sent by the browser unasked) gets the plain answer."""
    if request.method not in SAFE:
        return method_not_allowed("GET, HEAD")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any driver error means "not ready"; its text is for the server's log only
        logger.warning("not ready: the database is not reachable (%s: %s)", exc.__class__.__name__, exc)
        return _problem(problem(503, "not-ready", "the hub is not ready"))
    try:
        pending = schema.unapplied()
    except Exception as exc:  # an unreadable migration record, a connection lost meanwhile: not ready either
        logger.warning("not ready: the migrations could not be read (%s: %s)", exc.__class__.__name__, exc)
        return _problem(problem(503, "not-ready", "the hub is not ready"))
    if pending:  # every request would fail on tables or columns that are not there yet
        logger.warning(
            "not ready: %s migration%s not applied (%s): run manage.py migrate",
            len(pending),
            "s are" if len(pending) != 1 else " is",
            ", ".join(pending[:5]) + (", ..." if len(pending) > 5 else ""),
        )
        return _problem(problem(503, "not-ready", "the hub is not ready"))
    auth = BearerTokenAuthentication()
    try:
        authenticated = auth.authenticate(request)
    except AuthenticationFailed as exc:
        response = _problem(problem(401, "unauthenticated", str(exc.detail)))
        response["WWW-Authenticate"] = auth.authenticate_header(request)
        return response
    if authenticated is None:
        principal = person_principal(getattr(request, "user", None))
        if principal is None or not may_read_health_details(principal):
            return JsonResponse({"status": "ready"})
    else:
        try:
            require_may_read_health_details(authenticated[0])
        except ApplicationError as exc:
            return _problem(error_problem(exc))
    # A failed projection or a parked subscription does not make the hub unready (events are still accepted
    # and kept); it is reported, with each subscription's lag, and each has a warning saying what to do, as
    # has a subscription no runner applies.
    statuses = subscriptions.status()
    return JsonResponse(
        {
            "status": "ready",
            "database": connection.vendor,
            "projections": projections.status(),
            "subscriptions": [status.as_dict() for status in statuses],
            "warnings": [
                *subscriptions.unattended(statuses),
                *subscriptions.parked(statuses),
                *subscriptions.outdated(statuses),
                *projections.failed(),
                *projections.outdated(),
            ],
        }
    )


def _problem(body: dict) -> JsonResponse:
    return JsonResponse(body, status=body["status"], content_type=PROBLEM_CONTENT_TYPE)
