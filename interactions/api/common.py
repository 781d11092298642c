"""What every REST view shares: the documented error responses, pagination, and reading validated input."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response

from hub import readiness
from interactions.errors import InvalidRequest

PROBLEM = OpenApiResponse(OpenApiTypes.OBJECT, description="application/problem+json (RFC 9457)")
ERRORS = {400: PROBLEM, 401: PROBLEM, 403: PROBLEM, 404: PROBLEM}
READ_ERRORS = {**ERRORS, 503: PROBLEM}
COMMAND_ERRORS = {**ERRORS, 409: PROBLEM}


class Pages(LimitOffsetPagination):
    default_limit = 50
    max_limit = 200


def query_input(serializer_class, request: Request) -> dict:
    """The request's query parameters, validated (a 400 problem names each bad field)."""
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data


def body_input(serializer_class, request: Request) -> dict:
    """The request's JSON body, validated (a 400 problem names each bad field)."""
    body = serializer_class(data=request.data)
    body.is_valid(raise_exception=True)
    return body.validated_data


POSITION_HEADER = "Threadline-Position"
MIN_POSITION = OpenApiParameter(
    "min_position",
    int,
    description=(
        "A log position your own write answered with: the read waits until the read models behind it have "
        f"applied it (at most THREADLINE_READ_WAIT_SECONDS), else 503 with Retry-After. The answer's "
        f"{POSITION_HEADER} header says how far they had applied."
    ),
)


class ReadYourWrites:
    """A read view served from read models (`reads_from`): it honours `min_position` and answers with the
    position those read models had reached in the Threadline-Position header."""

    reads_from: list[str] = []

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        raw = request.query_params.get("min_position")
        wanted = None
        if raw is not None:
            if not raw.isdigit() or len(raw) > 18:
                raise InvalidRequest(
                    "min_position is a log position (an integer >= 0)",
                    extra={"errors": [{"field": "min_position", "message": "an integer >= 0"}]},
                )
            wanted = int(raw)
        timeout = settings.THREADLINE_READ_WAIT_SECONDS
        self.read_position = readiness.wait_for(self.reads_from, wanted, timeout=timeout)

    def finalize_response(self, request: Request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if getattr(self, "read_position", None) is not None and response.status_code < 400:
            response[POSITION_HEADER] = str(self.read_position)
        return response


def with_position(response: Response, position: int) -> Response:
    """A write's answer, with the log position the client may pass as `min_position` to read it back."""
    response[POSITION_HEADER] = str(position)
    return response
