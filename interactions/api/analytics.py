"""REST resource /analytics: experience measures read from the hourly read models, as JSON or CSV."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from typing import Any

import orjson
from django.conf import settings
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers as drf_serializers
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from interactions.access.rules import require_may_read_measures
from interactions.analytics.selectors import (
    Page,
    Range,
    Table,
    effort_measures,
    handling_measures,
    journey_measures,
    outcome_measures,
    survey_measures,
    survey_table,
)
from interactions.api import serializers
from interactions.api.common import READ_PARAMETERS, ReadYourWrites, query_input
from interactions.api.openapi import ADMIN, LIST_ERRORS, SUPERVISOR, ok, roles
from interactions.errors import InvalidRequest

MEASURES = ["analytics"]
# A cell a spreadsheet would run as a formula (OWASP's "CSV injection"): a topic, segment or agent id is
# text someone posted, so it is written with a leading apostrophe. A plain decimal number is no formula: a
# negative value (net new business, a refund's) stays a number a spreadsheet can sum.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def _text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) and not _NUMBER.fullmatch(value) else value


class MeasuresJSONRenderer(JSONRenderer):
    """DRF's JSON, written by orjson: the same bytes for what a measure returns (dicts with string keys,
    lists, strings, integers, floats, null), about ten times faster on a read of 10,000 buckets. What orjson
    would write otherwise (an indent asked for, a type only DRF's encoder knows) is left to DRF's renderer."""

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if data is None or self.get_indent(accepted_media_type, renderer_context or {}) is not None:
            return super().render(data, accepted_media_type, renderer_context)
        try:
            body = orjson.dumps(data)
        except TypeError:  # not a type of its own (a date, a Decimal, a key that is not a string, ...)
            return super().render(data, accepted_media_type, renderer_context)
        # DRF escapes the two line separators JavaScript once took as line ends; so does this.
        return body.replace(_LS, rb"\u2028").replace(_PS, rb"\u2029") if b"\xe2\x80" in body else body


_LS, _PS = "\u2028".encode(), "\u2029".encode()


class CsvRenderer(BaseRenderer):
    """A measure's `rows`, then (on its last page) its `totals` (bucket `total`) and its other tables
    (_MORE_TABLES), one line each with every figure (and, for surveys, a column per score); or a measure's
    Table, which is those lines already. A problem is still problem+json (the problem sets its
    Content-Type): its body is written as JSON."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if isinstance(data, Table):
            return _csv(data.header, _texts(data.lines, data.text))
        response = (renderer_context or {}).get("response")
        if (response is not None and response.status_code >= 400) or "rows" not in (data or {}):
            return JSONRenderer().render(data)  # a problem, or OPTIONS' description of the resource
        whole = [
            *({**row, "bucket": "total"} for row in data["totals"]),
            *({**row, "bucket": kind} for table, kind in _MORE_TABLES.items() for row in data.get(table, ())),
        ]
        # The totals and the other tables are the whole range's: written on the last page only, but every
        # page has their columns, so that the pages' lines are the whole read's.
        written = [*data["rows"], *whole] if not data.get("next") else data["rows"]
        lines = [*data["rows"], *whole]
        # Thousands of lines share a handful of shapes: the columns are read off the distinct ones.
        shapes = dict.fromkeys(tuple(row) for row in lines)
        columns = ["bucket", "group", *dict.fromkeys(k for s in shapes for k in s if k not in _NOT_FIGURES)]
        spreads = dict.fromkeys(tuple(row["distribution"]) for row in lines if "distribution" in row)
        scores = sorted({s for spread in spreads for s in spread}, key=int)
        blanks = [""] * len(scores)
        cells = []
        for row in written:
            figures = list(map(row.get, columns))
            for n, value in enumerate(figures):
                if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
                    figures[n] = _text(value)
            spread = row.get("distribution")
            cells.append([*figures, *(map(spread.get, scores, blanks) if spread else blanks)])
        return _csv([*columns, *(f"score_{s}" for s in scores)], cells)


def _texts(lines: list[list[Any]], columns: tuple[int, ...]) -> list[list[Any]]:
    """`lines` with each text cell of `columns` a spreadsheet would run written as text (_text), in place."""
    for n in columns:
        for line in lines:
            value = line[n]
            if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
                line[n] = _text(value)
    return lines


def _csv(header: list[str], lines: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # it writes None as an empty cell
    writer.writerow(header)
    writer.writerows(lines)
    return out.getvalue().encode("utf-8")


_NOT_FIGURES = {"bucket", "group", "distribution"}
# A measure's tables beyond its rows and totals, written after them as lines whose `bucket` says which.
_MORE_TABLES = {
    "transitions": "transition",
    "choke_points": "choke_point",
    "callback_attempts": "callback_attempt",
}


def span_of(
    request: Request, serializer=serializers.SurveyMeasuresQuerySerializer
) -> tuple[Range, dict[str, Any]]:
    query = query_input(serializer, request)
    span = Range.of(
        start=query.get("from"),
        end=query.get("to"),
        granularity=query.get("granularity", "day"),
        zone=query.get("timezone", "UTC"),
        group_by=query.get("group_by"),
    )
    return span, query


def _page(span: Range, query: dict[str, Any]) -> Page:
    return Page.of(span, limit=query.get("limit"), cursor=query.get("cursor"))


class MeasuresView(ReadYourWrites, APIView):
    reads_from = MEASURES
    renderer_classes = [MeasuresJSONRenderer, CsvRenderer]

    def dispatch(self, request, *args, **kwargs):
        """The read, rendered here rather than after the view, and then let go of. DRF's response refers to
        itself and to the view (its renderer context), and the view to it: a cycle, which only the garbage
        collector frees, holding the read's figures (a read by day and agent over months: some 30,000 dicts
        and lists). Left to it, each read's objects waited for a collection, which the next read's
        allocations then made a full one of about 30 ms in one read in four (docs/benchmarks.md). Rendered,
        the response needs neither reference: without them it is freed as soon as it is sent."""
        response = super().dispatch(request, *args, **kwargs)
        if hasattr(response, "render"):
            response.render()
            response.renderer_context = None
        self.response = None
        return response

    def finalize_response(self, request: Request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method == "OPTIONS":  # the description of the resource is JSON, whatever was asked
            response.accepted_renderer, response.accepted_media_type = JSONRenderer(), "application/json"
        return response

    def perform_content_negotiation(self, request: Request, force: bool = False):
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:  # DRF's answer to a `format` no renderer has: a 404 would say the path is wrong
            raise InvalidRequest(
                "format is json or csv", extra={"errors": [{"field": "format", "message": "json or csv"}]}
            ) from None


def _measure_schema(summary: str, operation_id: str, query, answer):
    """The OpenAPI description every measure shares: its query, JSON or CSV, supervisors and admins."""
    return extend_schema(
        summary=summary,
        operation_id=operation_id,
        parameters=[query, *READ_PARAMETERS],
        responses={
            **ok(answer),
            (200, "text/csv"): OpenApiResponse(
                {"type": "string"}, description="The same figures as CSV (`?format=csv` or Accept: text/csv)."
            ),
            **LIST_ERRORS,
        },
        **roles(SUPERVISOR, ADMIN),
    )


Read = Callable[[Range, dict[str, Any]], Any]


class MeasureView(MeasuresView):
    """One measure: supervisors and admins only, its query parsed by `query`, its figures from `measure`, or
    as CSV from `table` where the measure has one (a Table, built without the JSON's dicts)."""

    query: type[drf_serializers.Serializer]
    measure: Read
    table: Read | None = None

    def get(self, request: Request) -> Response:
        require_may_read_measures(request.user)
        span, query = span_of(request, self.query)
        as_table = self.table is not None and request.accepted_renderer.format == CsvRenderer.format
        answer = (self.table if as_table else self.measure)(span, query)
        cursor = answer.next if isinstance(answer, Table) else answer.get("next")
        following = _page_after(request, span, cursor) if cursor else None
        if isinstance(answer, dict) and "next" in answer:
            answer["next"] = following
        response = Response(answer)
        if following:
            response["Link"] = f'<{following}>; rel="next"'
        return response


def _page_after(request: Request, span: Range, cursor: str) -> str:
    """The address of the page after this one: the same read with `cursor` set and its `to` as this page
    read it (left to its default, the end of the current hour, the range would move on the hour), under
    THREADLINE_PUBLIC_URL when the hub is behind a proxy that changes its scheme or host, else as the
    request was received."""
    query = request.query_params.copy()
    query.setdefault("to", span.describe()["to"])  # `from`, left out, is then 7 days before it on every page
    query["cursor"] = cursor
    path = f"{request.path}?{query.urlencode()}"
    base = settings.THREADLINE_PUBLIC_URL.rstrip("/")
    return base + path if base else request.build_absolute_uri(path)


def _measure(
    summary: str, operation_id: str, query, answer, measure: Read, table: Read | None = None
) -> type[MeasureView]:
    """The view of one measure, described in OpenAPI as every measure is."""
    view = type(
        f"{operation_id.title().replace('_', '')}View",
        (MeasureView,),
        {"query": query, "measure": staticmethod(measure), "table": staticmethod(table) if table else None},
    )
    return extend_schema_view(get=_measure_schema(summary, operation_id, query, answer))(view)


SurveyMeasuresView = _measure(
    "Survey measures: CSAT, NPS and CES counts, distributions, means, box rates and NPS",
    "analytics_surveys",
    serializers.SurveyMeasuresQuerySerializer,
    serializers.SurveyMeasuresSerializer,
    lambda span, query: survey_measures(span, metric=query.get("metric"), page=_page(span, query)),
    lambda span, query: survey_table(span, metric=query.get("metric"), page=_page(span, query)),
)
HandlingMeasuresView = _measure(
    "Handling: calls and their length, transfers, first responses, resolutions, digital handling, FCR",
    "analytics_handling",
    serializers.HandlingMeasuresQuerySerializer,
    serializers.HandlingMeasuresSerializer,
    lambda span, query: handling_measures(span, page=_page(span, query)),
)
EffortMeasuresView = _measure(
    "Effort from the log: contacts, switches, transfers, repeats, an effort index, CES beside it",
    "analytics_effort",
    serializers.HandlingMeasuresQuerySerializer,
    serializers.EffortMeasuresSerializer,
    lambda span, query: effort_measures(span, page=_page(span, query)),
)
JourneyMeasuresView = _measure(
    "Journeys: steps, transitions between them, self-service bounces, dead-ends and choke points",
    "analytics_journeys",
    serializers.JourneyMeasuresQuerySerializer,
    serializers.JourneyMeasuresSerializer,
    lambda span, query: journey_measures(span, page=_page(span, query)),
)
OutcomeMeasuresView = _measure(
    "Outcomes: sales, upgrades, retentions, cancellations and refunds, new and net new business",
    "analytics_outcomes",
    serializers.OutcomeMeasuresQuerySerializer,
    serializers.OutcomeMeasuresSerializer,
    lambda span, query: outcome_measures(span, currency=query.get("currency"), page=_page(span, query)),
)
