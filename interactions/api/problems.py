"""Renders every error as RFC 9457 problem+json: domain errors, DRF's own, 404s and 500s."""

from __future__ import annotations

import logging
import sqlite3
import sys
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

from hub.errors import ApplicationError, NotFound, UnstorableEvents, WrongExpectedVersion
from hub.readiness import NotCaughtUp
from interactions.api.cloudevents_http import MalformedRequest, PayloadTooLarge, UnsupportedMediaType
from interactions.callbacks.services import CallbackConflict
from interactions.errors import Conflict, Forbidden, InvalidEvents, InvalidRequest
from interactions.followups.services import FollowupConflict
from interactions.privacy.redaction import shown_back
from interactions.threads.services import InvalidTransition

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "https://threadline.dev/problems/"
logger = logging.getLogger(__name__)
# SQLSTATEs worth a retry: connection failures (class 08), the server shutting down or starting (57P01-03),
# too many connections, a serialization failure, a deadlock, a lock that waited too long.
_TRANSIENT_STATES = {"57P01", "57P02", "57P03", "53300", "40001", "40P01", "55P03"}
_SQLITE_TRANSIENT = ("unable to open database file", "database is locked")


def database_unavailable(exc: BaseException | None) -> bool:
    """Whether a database error is one a retry may get past: the database unreachable, restarting or
    busy. Not a missing table (an unapplied migration), a statement timeout or a limit: those fail again."""
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if isinstance(cause, sqlite3.Error):
        return str(cause).startswith(_SQLITE_TRANSIENT)
    state = getattr(cause, "sqlstate", None)
    if state is None:  # the driver failed before any server answered: no connection
        return True
    return state.startswith("08") or state in _TRANSIENT_STATES


# How each error is rendered over HTTP: status, the code that ends its problem type, and its title. The
# first class an error is an instance of wins, so subclasses come before their bases.
STATUSES: list[tuple[type[ApplicationError], int, str, str]] = [
    (WrongExpectedVersion, 409, "version-conflict", "Stream version conflict"),
    (NotCaughtUp, 503, "not-caught-up", "The read models have not reached that position yet"),
    (InvalidTransition, 409, "invalid-transition", "The thread is not in a state that allows this"),
    (CallbackConflict, 409, "callback-conflict", "The callback is not in a state that allows this"),
    (FollowupConflict, 409, "followup-conflict", "The follow-up is not in a state that allows this"),
    (Conflict, 409, "conflict", "Conflict"),
    (NotFound, 404, "not-found", "Not found"),
    (Forbidden, 403, "forbidden", "Forbidden"),
    (InvalidEvents, 422, "invalid-events", "Invalid events"),
    (UnstorableEvents, 422, "unstorable-events", "Events the log cannot store"),
    (InvalidRequest, 400, "invalid-request", "Invalid request"),
    (MalformedRequest, 400, "malformed-request", "Malformed request"),
    (UnsupportedMediaType, 415, "unsupported-media-type", "Unsupported media type"),
    (PayloadTooLarge, 413, "payload-too-large", "Payload too large"),
    (ApplicationError, 400, "bad-request", "Bad request"),
]


def error_problem(exc: ApplicationError) -> dict[str, Any]:
    """The problem+json body of a domain error."""
    status, code, title = next((s, c, t) for cls, s, c, t in STATUSES if isinstance(exc, cls))
    return problem(status, code, exc.detail, title=title, **exc.extra)


ECHO_CHARS = 2000  # of any one text of a problem: a detail that repeats a 5,000-character path is cut short


def problem(status: int, code: str, detail: str, *, title: str | None = None, **extra: Any) -> dict[str, Any]:
    """A problem body. Text that repeats what was sent (a path, a rule id, a field name) has its card
    numbers masked, as everything the hub stores does: an error must not echo one back; nor does it echo
    control characters or lone surrogates."""
    return {
        "type": TYPE_BASE + code,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": _shown(detail),
        **_masked(extra),
    }


def _shown(text: str) -> str:
    return shown_back(text, ECHO_CHARS)


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return _shown(value)
    if isinstance(value, dict):
        return {_masked(k): _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return value


def _field_errors(detail: Any, prefix: str = "") -> list[dict[str, str]]:
    if isinstance(detail, dict):
        out: list[dict[str, str]] = []
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out += _field_errors(value, "" if key == "non_field_errors" else name)
        return out
    if isinstance(detail, list):
        out = []
        for item in detail:
            out += _field_errors(item, prefix)
        return out
    return [{"field": prefix, "message": str(detail)}]


_DRF_CODES = {
    drf.NotAuthenticated: "unauthenticated",
    drf.AuthenticationFailed: "unauthenticated",
    drf.PermissionDenied: "forbidden",
    drf.NotFound: "not-found",
    drf.MethodNotAllowed: "method-not-allowed",
    drf.NotAcceptable: "not-acceptable",
    drf.UnsupportedMediaType: "unsupported-media-type",
    drf.ParseError: "malformed-request",
    drf.Throttled: "throttled",
    drf.ValidationError: "invalid-request",
}


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: None lets Django turn the rest into a 500 (see `server_error`)."""
    headers: dict[str, str] = {}
    if isinstance(exc, ApplicationError):
        body = error_problem(exc)
        if isinstance(exc, NotCaughtUp):
            headers["Retry-After"] = "1"
    elif isinstance(exc, Http404):
        body = problem(404, "not-found", "no such resource")
    elif isinstance(exc, PermissionDenied):
        body = problem(403, "forbidden", "you may not do this")
    elif isinstance(exc, RequestDataTooBig):  # the body is over DATA_UPLOAD_MAX_MEMORY_SIZE
        body = too_large()
    elif isinstance(exc, drf.APIException):
        code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
        if isinstance(exc, drf.ValidationError):
            body = problem(400, code, "the request has invalid fields", errors=_field_errors(exc.detail))
        else:
            body = problem(exc.status_code, code, str(exc.detail))
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
    else:
        return None
    response = Response(body, status=body["status"], headers=headers, content_type=PROBLEM_CONTENT_TYPE)
    if isinstance(exc, NotCaughtUp):
        # A read that waited its bound for the runner: the client retries. Django would log every 503 as an
        # ERROR, which would page an operator for a lagging runner the warning below and /readyz describe.
        logger.warning("%s: %s", exc.detail, context["request"].path)
        response._has_been_logged = True  # Django's own mark: log_response leaves it alone
    return response


def _json_problem(body: dict[str, Any]) -> JsonResponse:
    return JsonResponse(body, status=body["status"], content_type=PROBLEM_CONTENT_TYPE)


def not_found(request, exception=None) -> JsonResponse:
    return _json_problem(problem(404, "not-found", f"nothing at {request.path}"))


def server_error(request) -> JsonResponse:
    """Django's handler500, called while the error is being handled (so `sys.exc_info()` names it)."""
    if database_unavailable(sys.exc_info()[1]):
        # Unreachable, restarting, or it gave up on this request (a lock or statement timeout): worth a
        # retry. A write may have committed just before the connection broke; an event posted again with
        # its id is recognised as a duplicate.
        response = _json_problem(
            problem(
                503,
                "database-unavailable",
                "the database could not serve this request; try again (an event posted again with the same"
                " source and id is recorded once)",
            )
        )
        response["Retry-After"] = "5"
        return response
    return _json_problem(problem(500, "internal-error", "the server failed; the request was not applied"))


def method_not_allowed(allowed: str, what: str = "this path") -> JsonResponse:
    """405, naming the methods `what` takes (`allowed`, as the Allow header writes them)."""
    response = _json_problem(problem(405, "method-not-allowed", f"{what} takes {allowed}"))
    response["Allow"] = allowed
    return response


def too_large() -> dict[str, Any]:
    return problem(
        413,
        "payload-too-large",
        f"the body is over the {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes this path takes",
    )


def bad_request(request, exception=None) -> JsonResponse:
    if isinstance(exception, RequestDataTooBig):
        return _json_problem(too_large())
    return _json_problem(problem(400, "malformed-request", "the request could not be read"))
