"""REST resource /customers/{id}/next-best-actions/{rule_id}/taken|dismissed: an agent's answer to a
recommendation, recorded as nba.taken or nba.dismissed so each rule's take-up can be measured."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from interactions.access.rules import require_may_answer_recommendations
from interactions.api import serializers
from interactions.api.common import body_input, idempotency_key, with_position
from interactions.api.openapi import (
    AUTHENTICATED,
    IDEMPOTENCY_KEY,
    PEOPLE,
    ok,
    problems,
    response_headers,
    roles,
)
from interactions.nba.rules import RULE_ID
from interactions.nba.services import nba_answer

RULE = OpenApiParameter(
    "rule_id",
    {"type": "string", "pattern": RULE_ID, "maxLength": 64},
    OpenApiParameter.PATH,
    description="The id of a rule in the rules file, as the context's next_best_actions[].id gives it.",
)


def _answer(request: Request, customer_id, rule_id: str, outcome: str) -> Response:
    require_may_answer_recommendations(request.user)
    body = body_input(serializers.NbaAnswerInputSerializer, request)
    event = nba_answer(
        customer_id=customer_id,
        rule_id=rule_id,
        outcome=outcome,
        actor=request.user,
        idempotency_key=idempotency_key(request),
        **body,
    )
    result = {
        "position": event.position,
        "type": event.type,
        "rule_id": event.data["rule_id"],
        "customer_id": event.data["customer_id"],
        "thread_id": event.data["thread_id"],
    }
    response = Response(serializers.NbaAnswerResultSerializer(result).data, status=status.HTTP_201_CREATED)
    return with_position(response, event.position)


def _schema(summary: str):
    return extend_schema(
        summary=summary,
        parameters=[RULE, IDEMPOTENCY_KEY, *response_headers(201)],
        request=serializers.NbaAnswerInputSerializer,
        responses={
            **ok(serializers.NbaAnswerResultSerializer, status=201),
            **problems(*AUTHENTICATED, 404, 409, 413, 415),
        },
        **roles(
            *PEOPLE, note="A rule id that is not in the rules file, or an unknown customer, answers 404."
        ),
    )


class NbaTakenView(APIView):
    @_schema("Record that a next best action was taken up (nba.taken)")
    def post(self, request: Request, customer_id, rule_id: str) -> Response:
        return _answer(request, customer_id, rule_id, "taken")


class NbaDismissedView(APIView):
    @_schema("Record that a next best action was dismissed (nba.dismissed)")
    def post(self, request: Request, customer_id, rule_id: str) -> Response:
        return _answer(request, customer_id, rule_id, "dismissed")
