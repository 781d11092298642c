"""What every REST view shares: the documented error responses, pagination, and reading validated input."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response

from hub import log, readiness
from interactions.api.openapi import MAX_POSITION, response_headers
from interactions.errors import InvalidRequest
from interactions.idempotency import HEADER, checked_key


def _refuse(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{field} is {message}", extra={"errors": [{"field": field, "message": message}]})


def _whole_number(request: Request, name: str, low: int, high: int) -> int | None:
    """A query parameter that must be a whole number in [low, high] (None when absent)."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18 or not low <= int(raw) <= high:
        raise _refuse(name, f"a whole number from {low} to {high}")
    return int(raw)


class Pages(LimitOffsetPagination):
    """`limit` (1-200, default 50) and `offset` (>= 0). Out of range is a 400, not silently the default."""

    default_limit = 50
    max_limit = 200
    max_offset = 10**9

    def get_limit(self, request: Request) -> int:
        limit = _whole_number(request, self.limit_query_param, 1, self.max_limit)
        return self.default_limit if limit is None else limit

    def get_offset(self, request: Request) -> int:
        return _whole_number(request, self.offset_query_param, 0, self.max_offset) or 0

    @classmethod
    def parameters(cls) -> list[OpenApiParameter]:
        return [
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": cls.max_limit},
                description=f"At most this many (default {cls.default_limit}).",
            ),
            OpenApiParameter(
                "offset",
                {"type": "integer", "minimum": 0, "maximum": cls.max_offset},
                description="Skip this many.",
            ),
        ]


def page_of(item_serializer: type[serializers.Serializer]) -> serializers.Serializer:
    """The documented shape of a page of `item_serializer` (LimitOffsetPagination's)."""
    name = item_serializer.__name__.removesuffix("Serializer")
    fields = {
        "count": serializers.IntegerField(help_text="How many in all."),
        "next": serializers.URLField(allow_null=True, help_text="The next page, if any."),
        "previous": serializers.URLField(allow_null=True, help_text="The previous page, if any."),
        "results": item_serializer(many=True),
    }
    return type(f"{name}PageSerializer", (serializers.Serializer,), fields)()


def query_input(serializer_class, request: Request) -> dict:
    """The request's query parameters, validated (a 400 problem names each bad field)."""
    query = serializer_class(data=request.query_params)
    # DRF reads `?state=` as "not given"; a filter sent empty is refused instead of silently ignored.
    if empty := [name for name in query.fields if request.query_params.get(name) == ""]:
        raise InvalidRequest(
            f"{', '.join(empty)} may not be empty",
            extra={"errors": [{"field": name, "message": "may not be empty"} for name in empty]},
        )
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
    {"type": "integer", "minimum": 0, "maximum": MAX_POSITION},
    description=(
        "A log position your own write answered with: the read waits until the read models behind it have "
        f"applied it (at most THREADLINE_READ_WAIT_SECONDS), else 503 with Retry-After. The answer's "
        f"{POSITION_HEADER} header says how far they had applied. A position beyond the log's last is a 400."
    ),
)


# What every read served from read models takes and answers with.
READ_PARAMETERS = [MIN_POSITION, *response_headers(200, waits=True)]


class ReadYourWrites:
    """A read view served from read models (`reads_from`): its reads (GET, HEAD) honour `min_position` and
    answer with the position those read models had reached in the Threadline-Position header. A write on the
    same view (POST /callbacks) answers with its own position, which `with_position` set."""

    reads_from: list[str] = []

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        if request.method not in SAFE_METHODS:
            return
        wanted = _whole_number(request, "min_position", 0, MAX_POSITION)
        # A position no write has answered with yet: waiting for it would only time out.
        if wanted is not None and wanted > (last := log.last_position()):
            raise _refuse("min_position", f"a log position; the log's last position is {last}")
        timeout = settings.THREADLINE_READ_WAIT_SECONDS
        self.read_position = readiness.wait_for(self.reads_from, wanted, timeout=timeout)

    def finalize_response(self, request: Request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # A 404 too: the thread or customer may be in the log but not yet in the read models, and the
        # position tells a client which (pass its own write's position as min_position to wait for it).
        if getattr(self, "read_position", None) is not None and (
            response.status_code < 400 or response.status_code == 404
        ):
            response[POSITION_HEADER] = str(self.read_position)
        return response


def with_position(response: Response, position: int) -> Response:
    """A write's answer, with the log position the client may pass as `min_position` to read it back."""
    response[POSITION_HEADER] = str(position)
    return response


def idempotency_key(request: Request) -> str | None:
    """The command's `Idempotency-Key` header, checked (interactions.idempotency); None when not sent."""
    return checked_key(request.headers.get(HEADER))
