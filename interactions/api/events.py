"""REST resource /events: post CloudEvents (structured, binary, batch), read the log; and /event-types."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from interactions import catalogue
from interactions.api import serializers
from interactions.api.cloudevents_http import read_events
from interactions.api.common import PROBLEM, query_input, with_position
from interactions.eventlog.selectors import log_page
from interactions.ingestion.pipeline import events_ingest

_EXAMPLE_EVENT = {
    "specversion": "1.0",
    "id": "sms-0001",
    "source": "/sms-gateway",
    "type": "message.received",
    "subject": "tel:+15551234567",
    "time": "2026-11-23T10:00:00Z",
    "datacontenttype": "application/json",
    "data": {"channel": "sms", "text": "My bill looks wrong"},
}


class EventsView(APIView):
    @extend_schema(
        summary="Post CloudEvents (structured, binary or batch mode)",
        request={
            "application/cloudevents+json": OpenApiTypes.OBJECT,
            "application/cloudevents-batch+json": OpenApiTypes.OBJECT,
            "application/json": OpenApiTypes.OBJECT,
        },
        examples=[OpenApiExample("SMS received", value=_EXAMPLE_EVENT, request_only=True)],
        responses={
            201: serializers.IngestResultSerializer,
            400: PROBLEM,
            401: PROBLEM,
            403: PROBLEM,
            413: PROBLEM,
            415: PROBLEM,
            422: PROBLEM,
        },
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
        parameters=[serializers.LogQuerySerializer],
        responses={200: serializers.LogPageSerializer, 400: PROBLEM, 401: PROBLEM, 403: PROBLEM},
    )
    def get(self, request: Request) -> Response:
        page = log_page(token=request.user, **query_input(serializers.LogQuerySerializer, request))
        return Response(serializers.LogPageSerializer(page).data)


class EventTypesView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        summary="The event catalogue with each type's data schema",
        responses=serializers.EventTypeSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        return Response(catalogue.describe())
