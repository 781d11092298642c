"""REST resource /threads: lists, one thread with its timeline, and resolve, reopen, assign, note."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hub import readiness
from interactions.access.rules import may_take_threads, require_may_change_threads, require_may_read_context
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
    COMMAND_ERRORS,
    EVERY_ROLE,
    FILTERED_LIST_ERRORS,
    IDEMPOTENCY_KEY,
    PEOPLE,
    READ_ERRORS,
    ok,
    response_headers,
    roles,
)
from interactions.threads.selectors import (
    thread_brief,
    thread_get,
    thread_list,
    thread_timeline,
    timeline_entry,
)
from interactions.threads.services import thread_assign, thread_note_add, thread_reopen, thread_resolve

# The read model threads and their timelines come from.
THREADS = ["threads"]


class ThreadListView(ReadYourWrites, APIView):
    # `customer=` is looked up in the customers read model (a merged id names its survivor's threads).
    reads_from = [*THREADS, "customers"]

    @extend_schema(
        summary="Threads, most recently active first",
        operation_id="threads_list",
        parameters=[serializers.ThreadListQuerySerializer, *Pages.parameters(), *READ_PARAMETERS],
        responses={**ok(page_of(serializers.ThreadSerializer)), **FILTERED_LIST_ERRORS},
        **roles(*EVERY_ROLE),
    )
    def get(self, request: Request) -> Response:
        require_may_read_context(request.user)
        query = query_input(serializers.ThreadListQuerySerializer, request)
        threads = thread_list(
            customer_id=query.get("customer"),
            status=query.get("status"),
            channel=query.get("channel"),
            agent_id=query.get("agent"),
        )
        paginator = Pages()
        page = paginator.paginate_queryset(threads, request, view=self)
        return paginator.get_paginated_response(
            serializers.ThreadSerializer([thread_brief(t) for t in page], many=True).data
        )


class ThreadDetailView(ReadYourWrites, APIView):
    reads_from = THREADS

    @extend_schema(
        summary="A thread with its timeline (paginated by limit/offset, in the order events happened)",
        parameters=[*Pages.parameters(), *READ_PARAMETERS],
        responses={**ok(serializers.ThreadDetailSerializer), **READ_ERRORS},
        **roles(*EVERY_ROLE),
    )
    def get(self, request: Request, thread_id) -> Response:
        require_may_read_context(request.user)
        thread = thread_get(thread_id)
        paginator = Pages()
        entries = paginator.paginate_queryset(thread_timeline(thread), request, view=self)
        offset, limit = paginator.offset, paginator.limit
        body = {
            **thread_brief(thread),
            "timeline": [timeline_entry(e) for e in entries],
            "timeline_count": paginator.count,
            "next_offset": offset + limit if offset + limit < paginator.count else None,
        }
        return Response(serializers.ThreadDetailSerializer(body).data)


def _command_response(event) -> Response:
    """The command's event and its position; the thread as the read model has it once it applied the event
    (waiting as a read with min_position would), else null: read it with min_position=<position>."""
    try:
        readiness.wait_for(THREADS, event.position, timeout=settings.THREADLINE_READ_WAIT_SECONDS)
        thread = thread_brief(thread_get(event.metadata["thread_id"]))
    except readiness.NotCaughtUp:
        thread = None
    body = {"position": event.position, "type": event.type, "thread": thread}
    response = Response(serializers.CommandResultSerializer(body).data, status=status.HTTP_201_CREATED)
    return with_position(response, event.position)


class ThreadResolveView(APIView):
    @extend_schema(
        summary="Resolve a thread",
        parameters=[IDEMPOTENCY_KEY, *response_headers(201)],
        request=serializers.ReasonInputSerializer,
        responses={**ok(serializers.CommandResultSerializer, status=201), **COMMAND_ERRORS},
        **roles(*PEOPLE),
    )
    def post(self, request: Request, thread_id) -> Response:
        require_may_change_threads(request.user)
        body = body_input(serializers.ReasonInputSerializer, request)
        return _command_response(
            thread_resolve(
                thread_id=thread_id, actor=request.user, idempotency_key=idempotency_key(request), **body
            )
        )


class ThreadReopenView(APIView):
    @extend_schema(
        summary="Reopen a resolved thread",
        parameters=[IDEMPOTENCY_KEY, *response_headers(201)],
        request=serializers.ReasonInputSerializer,
        responses={**ok(serializers.CommandResultSerializer, status=201), **COMMAND_ERRORS},
        **roles(*PEOPLE),
    )
    def post(self, request: Request, thread_id) -> Response:
        require_may_change_threads(request.user)
        body = body_input(serializers.ReasonInputSerializer, request)
        return _command_response(
            thread_reopen(
                thread_id=thread_id, actor=request.user, idempotency_key=idempotency_key(request), **body
            )
        )


class ThreadAssignView(APIView):
    @extend_schema(
        summary="Assign a thread to an agent",
        parameters=[IDEMPOTENCY_KEY, *response_headers(201)],
        request=serializers.AssignInputSerializer,
        responses={**ok(serializers.CommandResultSerializer, status=201), **COMMAND_ERRORS},
        **roles(
            *PEOPLE,
            note="An agent may leave out agent_id to take the thread, and may name no other agent (403).",
        ),
    )
    def post(self, request: Request, thread_id) -> Response:
        require_may_change_threads(request.user)
        body = body_input(serializers.AssignInputSerializer, request)
        agent_id = body.pop("agent_id", None)
        if agent_id is None:
            if not may_take_threads(request.user):
                raise ValidationError(
                    {"agent_id": ["required unless an agent assigns the thread to themselves"]}
                )
            agent_id = request.user.pk
        return _command_response(
            thread_assign(
                thread_id=thread_id,
                agent_id=str(agent_id),
                actor=request.user,
                idempotency_key=idempotency_key(request),
                **body,
            )
        )


class ThreadNoteView(APIView):
    @extend_schema(
        summary="Add an internal note to a thread",
        parameters=[IDEMPOTENCY_KEY, *response_headers(201)],
        request=serializers.NoteInputSerializer,
        responses={**ok(serializers.CommandResultSerializer, status=201), **COMMAND_ERRORS},
        **roles(*PEOPLE),
    )
    def post(self, request: Request, thread_id) -> Response:
        require_may_change_threads(request.user)
        body = body_input(serializers.NoteInputSerializer, request)
        return _command_response(
            thread_note_add(
                thread_id=thread_id, actor=request.user, idempotency_key=idempotency_key(request), **body
            )
        )
