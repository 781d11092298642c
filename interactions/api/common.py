"""What every REST view shares: the documented error responses, pagination, and reading validated input."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

PROBLEM = OpenApiResponse(OpenApiTypes.OBJECT, description="application/problem+json (RFC 9457)")
ERRORS = {400: PROBLEM, 401: PROBLEM, 403: PROBLEM, 404: PROBLEM}
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
