"""REST resource /callbacks: request, read, list, cancel; and the offered agent's accept, decline, outcome."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from interactions.access.rules import require_may_read_context
from interactions.api import serializers
from interactions.api.common import (
    READ_PARAMETERS,
    Pages,
    ReadYourWrites,
    body_input,
    idempotency_key,
    page_of,
    query_input,
    with_position,
)
from interactions.api.openapi import (
    AGENT,
    AUTHENTICATED,
    COMMAND_ERRORS,
    EVERY_ROLE,
    IDEMPOTENCY_KEY,
    LIST_ERRORS,
    READ_ERRORS,
    ok,
    problems,
    response_headers,
    roles,
)
from interactions.callbacks.selectors import callback_brief, callback_briefs, callback_get, callback_list
from interactions.callbacks.services import (
    OfferNamed,
    RequestInput,
    callback_accept,
    callback_cancel,
    callback_decline,
    callback_outcome,
    callback_request,
)


def _callback(row, *, created: bool = False) -> Response:
    brief = callback_brief(row)
    body = serializers.CallbackSerializer(brief).data
    response = Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
    return with_position(response, brief["position"])


# The callbacks table (applied inline, in the append's transaction).
CALLBACKS = ["callbacks"]


class CallbackListView(ReadYourWrites, APIView):
    reads_from = CALLBACKS

    @extend_schema(
        summary="Callbacks by due time, filtered by state and agent",
        operation_id="callbacks_list",
        parameters=[serializers.CallbackListQuerySerializer, *Pages.parameters(), *READ_PARAMETERS],
        responses={**ok(page_of(serializers.CallbackSerializer)), **LIST_ERRORS},
        **roles(*EVERY_ROLE),
    )
    def get(self, request: Request) -> Response:
        require_may_read_context(request.user)
        query = query_input(serializers.CallbackListQuerySerializer, request)
        rows = callback_list(state=query.get("state"), agent_id=query.get("agent"))
        paginator = Pages()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(
            serializers.CallbackSerializer(callback_briefs(page), many=True).data
        )

    @extend_schema(
        summary="Request a callback (at a time, or as soon as possible)",
        parameters=[IDEMPOTENCY_KEY, *response_headers(201)],
        request=serializers.CallbackRequestSerializer,
        responses={
            **ok(serializers.CallbackSerializer, status=201),
            **problems(*AUTHENTICATED, 404, 409, 413, 415),
        },
        **roles(*EVERY_ROLE),
    )
    def post(self, request: Request) -> Response:
        body = body_input(serializers.CallbackRequestSerializer, request)
        row = callback_request(
            actor=request.user, request=RequestInput(**body), idempotency_key=idempotency_key(request)
        )
        return _callback(row, created=True)


class CallbackDetailView(ReadYourWrites, APIView):
    reads_from = CALLBACKS

    @extend_schema(
        summary="A callback",
        parameters=[*READ_PARAMETERS],
        responses={**ok(serializers.CallbackSerializer), **READ_ERRORS},
        **roles(*EVERY_ROLE),
    )
    def get(self, request: Request, callback_id) -> Response:
        require_may_read_context(request.user)
        return _callback(callback_get(callback_id))


class CallbackCancelView(APIView):
    @extend_schema(
        summary="Cancel a callback: it never fires (cancelling twice is harmless)",
        parameters=response_headers(200),
        request=serializers.CallbackReasonSerializer,
        responses={**ok(serializers.CallbackSerializer), **COMMAND_ERRORS},
        **roles(*EVERY_ROLE),
    )
    def post(self, request: Request, callback_id) -> Response:
        body = body_input(serializers.CallbackReasonSerializer, request)
        return _callback(callback_cancel(callback_id=callback_id, actor=request.user, **body))


class CallbackAcceptView(APIView):
    @extend_schema(
        summary="Accept the callback offered to you",
        parameters=response_headers(200),
        request=serializers.CallbackAnswerSerializer,
        responses={**ok(serializers.CallbackSerializer), **COMMAND_ERRORS},
        **roles(AGENT, note="Only the agent it was offered to."),
    )
    def post(self, request: Request, callback_id) -> Response:
        named = OfferNamed(**body_input(serializers.CallbackAnswerSerializer, request))
        return _callback(callback_accept(callback_id=callback_id, actor=request.user, named=named))


class CallbackDeclineView(APIView):
    @extend_schema(
        summary="Decline the callback offered to you (it goes to another agent)",
        parameters=response_headers(200),
        request=serializers.CallbackDeclineSerializer,
        responses={**ok(serializers.CallbackSerializer), **COMMAND_ERRORS},
        **roles(AGENT, note="Only the agent it was offered to."),
    )
    def post(self, request: Request, callback_id) -> Response:
        body = body_input(serializers.CallbackDeclineSerializer, request)
        named = OfferNamed(body.pop("attempt", None), body.pop("offer", None))
        return _callback(callback_decline(callback_id=callback_id, actor=request.user, named=named, **body))


class CallbackOutcomeView(APIView):
    @extend_schema(
        summary="Report how your call went; anything but completed is retried with backoff",
        parameters=response_headers(200),
        request=serializers.CallbackOutcomeSerializer,
        responses={**ok(serializers.CallbackSerializer), **COMMAND_ERRORS},
        **roles(AGENT, note="Only the agent calling."),
    )
    def post(self, request: Request, callback_id) -> Response:
        body = body_input(serializers.CallbackOutcomeSerializer, request)
        return _callback(callback_outcome(callback_id=callback_id, actor=request.user, **body))
