"""REST resource /events: post CloudEvents (structured, binary, batch), read the log; and /event-types."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from interactions import catalogue
from interactions.api import serializers
from interactions.api.cloudevents_http import read_events
from interactions.api.common import query_input, with_position
from interactions.api.openapi import (
    ADMIN,
    AUTHENTICATED,
    EXAMPLE_EVENT,
    INTEGRATION,
    MODES,
    SUPERVISOR,
    binary_mode_headers,
    ok,
    problems,
    response_headers,
    roles,
)
from interactions.eventlog.selectors import log_page
from interactions.ingestion.pipeline import events_ingest


class EventsView(APIView):
    @extend_schema(
        summary="Post CloudEvents (structured, binary or batch mode)",
        request={media_type: {"$ref": f"#/components/schemas/{name}"} for media_type, name in MODES.items()},
        parameters=[*binary_mode_headers(), *response_headers(201)],
        examples=[
            OpenApiExample(
                "Structured mode: an SMS received",
                value=EXAMPLE_EVENT,
                request_only=True,
                media_type="application/cloudevents+json",
            ),
            OpenApiExample(
                "Batch mode: two events, all or nothing",
                value=[
                    EXAMPLE_EVENT,
                    {**EXAMPLE_EVENT, "id": "sms-0002", "data": {"channel": "sms", "text": "Thanks"}},
                ],
                request_only=True,
                media_type="application/cloudevents-batch+json",
            ),
            OpenApiExample(
                "Binary mode: the data (attributes in ce-* headers)",
                value=EXAMPLE_EVENT["data"],
                request_only=True,
                media_type="application/json",
            ),
        ],
        responses={
            **ok(
                PolymorphicProxySerializer(
                    component_name="IngestAnswer",
                    serializers=[serializers.IngestResultSerializer, serializers.BatchIngestSerializer],
                    resource_type_field_name=None,
                ),
                "Written (or, `duplicate`, already in the log): one result, or for a batch `results` in the "
                "order of the batch.",
                status=201,
            ),
            **problems(*AUTHENTICATED, 413, 415, 422),
        },
        **roles(
            INTEGRATION,
            ADMIN,
            note="An integration token posts only events whose source starts with its prefix.",
        ),
    )
    def post(self, request: Request) -> Response:
        mode, events = read_events(request._request)
        results = [r.as_dict() for r in events_ingest(events, token=request.user)]
        body = {"results": results} if mode == "batch" else results[0]
        return with_position(
            Response(body, status=status.HTTP_201_CREATED), max(r["position"] for r in results)
        )

    @extend_schema(
        summary="Read the log in order after a position",
        parameters=[serializers.LogQuerySerializer, *response_headers(None)],
        responses={200: serializers.LogPageSerializer, **problems(*AUTHENTICATED)},
        **roles(
            INTEGRATION, SUPERVISOR, ADMIN, note="An integration token reads the events of its own sources."
        ),
    )
    def get(self, request: Request) -> Response:
        page = log_page(token=request.user, **query_input(serializers.LogQuerySerializer, request))
        return Response(serializers.LogPageSerializer(page).data)


class EventTypesView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        summary="The event catalogue with each type's data schema",
        responses={200: serializers.EventTypeSerializer(many=True)},
        auth=[],
        description="No token needed.",
    )
    def get(self, request: Request) -> Response:
        return Response(catalogue.describe())
