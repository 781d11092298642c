"""REST resource /callbacks: request, read, list, cancel; and the offered agent's accept, decline, outcome."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from interactions.access.rules import require_may_read_context
from interactions.api import serializers as s
from interactions.api.common import COMMAND_ERRORS, ERRORS, Pages, body_input, query_input
from interactions.callbacks import services as callbacks
from interactions.callbacks.selectors import callback_brief, callback_get, callback_list


def _callback(row, *, created: bool = False) -> Response:
    body = s.CallbackSerializer(callback_brief(row)).data
    return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class CallbackListView(APIView):
    @extend_schema(
        summary="Callbacks by due time, filtered by state and agent",
        parameters=[s.CallbackListQuerySerializer],
        responses={200: s.CallbackSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        require_may_read_context(request.user)
        query = query_input(s.CallbackListQuerySerializer, request)
        rows = callback_list(state=query.get("state"), agent_id=query.get("agent"))
        paginator = Pages()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(
            s.CallbackSerializer([callback_brief(c) for c in page], many=True).data
        )

    @extend_schema(
        summary="Request a callback (at a time, or as soon as possible)",
        request=s.CallbackRequestSerializer,
        responses={201: s.CallbackSerializer, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        body = body_input(s.CallbackRequestSerializer, request)
        row = callbacks.callback_request(actor=request.user, request=callbacks.RequestInput(**body))
        return _callback(row, created=True)


class CallbackDetailView(APIView):
    @extend_schema(summary="A callback", responses={200: s.CallbackSerializer, **ERRORS})
    def get(self, request: Request, callback_id) -> Response:
        require_may_read_context(request.user)
        return _callback(callback_get(callback_id))


class CallbackCancelView(APIView):
    @extend_schema(
        summary="Cancel a callback: it never fires (cancelling twice is harmless)",
        request=s.CallbackReasonSerializer,
        responses={200: s.CallbackSerializer, **COMMAND_ERRORS},
    )
    def post(self, request: Request, callback_id) -> Response:
        body = body_input(s.CallbackReasonSerializer, request)
        return _callback(callbacks.callback_cancel(callback_id=callback_id, actor=request.user, **body))


class CallbackAcceptView(APIView):
    @extend_schema(
        summary="Accept the callback offered to you",
        request=None,
        responses={200: s.CallbackSerializer, **COMMAND_ERRORS},
    )
    def post(self, request: Request, callback_id) -> Response:
        return _callback(callbacks.callback_accept(callback_id=callback_id, actor=request.user))


class CallbackDeclineView(APIView):
    @extend_schema(
        summary="Decline the callback offered to you (it goes to another agent)",
        request=s.CallbackReasonSerializer,
        responses={200: s.CallbackSerializer, **COMMAND_ERRORS},
    )
    def post(self, request: Request, callback_id) -> Response:
        body = body_input(s.CallbackReasonSerializer, request)
        return _callback(callbacks.callback_decline(callback_id=callback_id, actor=request.user, **body))


class CallbackOutcomeView(APIView):
    @extend_schema(
        summary="Report how your call went; anything but completed is retried with backoff",
        request=s.CallbackOutcomeSerializer,
        responses={200: s.CallbackSerializer, **COMMAND_ERRORS},
    )
    def post(self, request: Request, callback_id) -> Response:
        body = body_input(s.CallbackOutcomeSerializer, request)
        return _callback(callbacks.callback_outcome(callback_id=callback_id, actor=request.user, **body))
