"""REST resource /followups: the queue (supervisors and admins), close one, request a callback for one."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from interactions.access.rules import require_may_watch_followups
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
    ADMIN,
    COMMAND_ERRORS,
    IDEMPOTENCY_KEY,
    LIST_ERRORS,
    PEOPLE,
    SUPERVISOR,
    ok,
    response_headers,
    roles,
)
from interactions.callbacks.selectors import callback_brief
from interactions.followups.selectors import followup_brief, followup_briefs, followup_list
from interactions.followups.services import CallbackWindow, followup_callback, followup_close

# The follow-ups table (applied inline, in the append's transaction).
FOLLOWUPS = ["followups"]


class FollowupListView(ReadYourWrites, APIView):
    reads_from = FOLLOWUPS

    @extend_schema(
        summary="The follow-up queue: follow-ups in a state (default open), oldest first, with time left",
        operation_id="followups_list",
        parameters=[serializers.FollowupListQuerySerializer, *Pages.parameters(), *READ_PARAMETERS],
        responses={**ok(page_of(serializers.FollowupSerializer)), **LIST_ERRORS},
        **roles(SUPERVISOR, ADMIN),
    )
    def get(self, request: Request) -> Response:
        require_may_watch_followups(request.user)
        query = query_input(serializers.FollowupListQuerySerializer, request)
        paginator = Pages()
        page = paginator.paginate_queryset(followup_list(state=query["state"]), request, view=self)
        return paginator.get_paginated_response(
            serializers.FollowupSerializer(followup_briefs(page), many=True).data
        )


class FollowupCloseView(APIView):
    @extend_schema(
        summary="Close a follow-up with what was done (an open or a breached one)",
        parameters=[IDEMPOTENCY_KEY, *response_headers(201)],
        request=serializers.FollowupCloseSerializer,
        responses={**ok(serializers.FollowupSerializer, status=201), **COMMAND_ERRORS},
        **roles(*PEOPLE),
    )
    def post(self, request: Request, followup_id) -> Response:
        body = body_input(serializers.FollowupCloseSerializer, request)
        done = followup_close(
            followup_id=followup_id, actor=request.user, idempotency_key=idempotency_key(request), **body
        )
        answer = serializers.FollowupSerializer(followup_brief(done.followup)).data
        return with_position(Response(answer, status=status.HTTP_201_CREATED), done.position)


class FollowupCallbackView(APIView):
    @extend_schema(
        summary="Request a callback to the customer for a follow-up (through the callback flow)",
        parameters=[IDEMPOTENCY_KEY, *response_headers(201)],
        request=serializers.FollowupCallbackSerializer,
        responses={**ok(serializers.FollowupCallbackResultSerializer, status=201), **COMMAND_ERRORS},
        **roles(*PEOPLE),
    )
    def post(self, request: Request, followup_id) -> Response:
        window = CallbackWindow(**body_input(serializers.FollowupCallbackSerializer, request))
        done = followup_callback(
            followup_id=followup_id,
            actor=request.user,
            window=window,
            idempotency_key=idempotency_key(request),
        )
        answer = {"followup": followup_brief(done.followup), "callback": callback_brief(done.callback)}
        body = serializers.FollowupCallbackResultSerializer(answer).data
        return with_position(Response(body, status=status.HTTP_201_CREATED), done.position)
