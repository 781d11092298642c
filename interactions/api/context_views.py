"""REST views for customer context, threads and thread commands."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from interactions import selectors, services
from interactions.api import serializers as s
from interactions.api.views import PROBLEM
from interactions.errors import Forbidden
from interactions.models import ApiToken, Role

ERRORS = {400: PROBLEM, 401: PROBLEM, 403: PROBLEM, 404: PROBLEM}


class Pages(LimitOffsetPagination):
    default_limit = 50
    max_limit = 200


def _query(serializer_class, request: Request) -> dict:
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data


def _input(serializer_class, request: Request) -> dict:
    body = serializer_class(data=request.data)
    body.is_valid(raise_exception=True)
    return body.validated_data


class ContextByIdentifierView(APIView):
    @extend_schema(
        summary="Customer context by identifier",
        parameters=[s.ContextQuerySerializer],
        responses={200: s.ContextSerializer, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        selectors.require_may_read_context(request.user)
        customer = selectors.customer_get_by_identifier(
            _query(s.ContextQuerySerializer, request)["identifier"]
        )
        # The selector already returns the documented shape (ContextSerializer); rendering it directly
        # spares a second walk over up to 200 timeline entries.
        return Response(selectors.context_get(customer))


class ContextByCustomerView(APIView):
    @extend_schema(
        summary="Customer context by customer id (a merged id answers with the survivor)",
        responses={200: s.ContextSerializer, **ERRORS},
    )
    def get(self, request: Request, customer_id) -> Response:
        selectors.require_may_read_context(request.user)
        return Response(selectors.context_get(selectors.customer_get(customer_id)))


class ThreadListView(APIView):
    @extend_schema(
        summary="Threads, most recently active first",
        parameters=[s.ThreadListQuerySerializer],
        responses={200: s.ThreadSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        selectors.require_may_read_context(request.user)
        query = _query(s.ThreadListQuerySerializer, request)
        threads = selectors.thread_list(
            customer_id=query.get("customer"), status=query.get("status"), channel=query.get("channel")
        )
        paginator = Pages()
        page = paginator.paginate_queryset(threads, request, view=self)
        return paginator.get_paginated_response(
            s.ThreadSerializer([selectors.thread_brief(t) for t in page], many=True).data
        )


class ThreadDetailView(APIView):
    @extend_schema(
        summary="A thread with its timeline (paginated by limit/offset, in the order events happened)",
        responses={200: s.ThreadDetailSerializer, **ERRORS},
    )
    def get(self, request: Request, thread_id) -> Response:
        selectors.require_may_read_context(request.user)
        thread = selectors.thread_get(thread_id)
        paginator = Pages()
        entries = paginator.paginate_queryset(selectors.thread_timeline(thread), request, view=self)
        offset, limit = paginator.offset, paginator.limit
        body = {
            **selectors.thread_brief(thread),
            "timeline": [selectors.timeline_entry(e) for e in entries],
            "timeline_count": paginator.count,
            "next_offset": offset + limit if offset + limit < paginator.count else None,
        }
        return Response(s.ThreadDetailSerializer(body).data)


def _require_may_command(token: ApiToken) -> None:
    if token.role not in (Role.AGENT, Role.SUPERVISOR, Role.ADMIN):
        raise Forbidden(f"a {token.role} token may read context but not change threads")


def _command_response(event) -> Response:
    thread = selectors.thread_get(event.metadata["thread_id"])
    body = {"position": event.position, "type": event.type, "thread": selectors.thread_brief(thread)}
    return Response(s.CommandResultSerializer(body).data, status=status.HTTP_201_CREATED)


_COMMAND_ERRORS = {**ERRORS, 409: PROBLEM}


class ThreadResolveView(APIView):
    @extend_schema(
        summary="Resolve a thread",
        request=s.ReasonInputSerializer,
        responses={201: s.CommandResultSerializer, **_COMMAND_ERRORS},
    )
    def post(self, request: Request, thread_id) -> Response:
        _require_may_command(request.user)
        body = _input(s.ReasonInputSerializer, request)
        return _command_response(services.thread_resolve(thread_id=thread_id, actor=request.user, **body))


class ThreadReopenView(APIView):
    @extend_schema(
        summary="Reopen a resolved thread",
        request=s.ReasonInputSerializer,
        responses={201: s.CommandResultSerializer, **_COMMAND_ERRORS},
    )
    def post(self, request: Request, thread_id) -> Response:
        _require_may_command(request.user)
        body = _input(s.ReasonInputSerializer, request)
        return _command_response(services.thread_reopen(thread_id=thread_id, actor=request.user, **body))


class ThreadAssignView(APIView):
    @extend_schema(
        summary="Assign a thread to an agent",
        request=s.AssignInputSerializer,
        responses={201: s.CommandResultSerializer, **_COMMAND_ERRORS},
    )
    def post(self, request: Request, thread_id) -> Response:
        _require_may_command(request.user)
        body = _input(s.AssignInputSerializer, request)
        agent_id = body.pop("agent_id", None)
        if agent_id is None:
            if request.user.role != Role.AGENT:
                raise ValidationError(
                    {"agent_id": ["required unless an agent assigns the thread to themselves"]}
                )
            agent_id = request.user.pk
        return _command_response(
            services.thread_assign(thread_id=thread_id, agent_id=str(agent_id), actor=request.user, **body)
        )


class ThreadNoteView(APIView):
    @extend_schema(
        summary="Add an internal note to a thread",
        request=s.NoteInputSerializer,
        responses={201: s.CommandResultSerializer, **_COMMAND_ERRORS},
    )
    def post(self, request: Request, thread_id) -> Response:
        _require_may_command(request.user)
        body = _input(s.NoteInputSerializer, request)
        return _command_response(services.thread_note_add(thread_id=thread_id, actor=request.user, **body))
