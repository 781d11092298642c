"""REST resource /context: a customer's context by identifier or by customer id."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from interactions.access.rules import require_may_read_context
from interactions.api import serializers
from interactions.api.common import READ_PARAMETERS, ReadYourWrites, query_input
from interactions.api.openapi import EVERY_ROLE, READ_ERRORS, ok, roles
from interactions.context.selectors import context_get
from interactions.customers.selectors import customer_get, customer_get_by_identifier

# The read models a context read with `min_position` waits for. Not `analytics`, which keeps each customer's
# lifetime value: the agents' and the IVR's read must not wait on (or fail with) the measures' projection, a
# heavier one; the lifetime value is as the analytics runner has it, a moment behind an outcome just posted.
CONTEXT = ["customers", "threads", "callbacks", "reachability"]


class ContextByIdentifierView(ReadYourWrites, APIView):
    reads_from = CONTEXT

    @extend_schema(
        summary="Customer context by identifier",
        parameters=[serializers.ContextQuerySerializer, *READ_PARAMETERS],
        responses={**ok(serializers.ContextSerializer), **READ_ERRORS},
        **roles(*EVERY_ROLE),
    )
    def get(self, request: Request) -> Response:
        require_may_read_context(request.user)
        customer = customer_get_by_identifier(
            query_input(serializers.ContextQuerySerializer, request)["identifier"]
        )
        # The selector already returns the documented shape (ContextSerializer); rendering it directly
        # spares a second walk over up to 200 timeline entries.
        return Response(context_get(customer))


class ContextByCustomerView(ReadYourWrites, APIView):
    reads_from = CONTEXT

    @extend_schema(
        summary="Customer context by customer id (a merged id answers with the survivor)",
        parameters=READ_PARAMETERS,
        responses={**ok(serializers.ContextSerializer), **READ_ERRORS},
        **roles(*EVERY_ROLE),
    )
    def get(self, request: Request, customer_id) -> Response:
        require_may_read_context(request.user)
        return Response(context_get(customer_get(customer_id)))
