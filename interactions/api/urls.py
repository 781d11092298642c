"""URLs of the REST API, version 1: one module per resource."""

from django.urls import path, register_converter

from interactions.api import analytics, callbacks, context, events, followups, nba, threads
from interactions.api.converters import AnyCaseUUID

register_converter(AnyCaseUUID, "anyuuid")

urlpatterns = [
    path("events", events.EventsView.as_view(), name="events"),
    path("event-types", events.EventTypesView.as_view(), name="event-types"),
    path("context", context.ContextByIdentifierView.as_view(), name="context"),
    path(
        "customers/<anyuuid:customer_id>/context",
        context.ContextByCustomerView.as_view(),
        name="customer-context",
    ),
    path(
        "customers/<anyuuid:customer_id>/next-best-actions/<str:rule_id>/taken",
        nba.NbaTakenView.as_view(),
        name="nba-taken",
    ),
    path(
        "customers/<anyuuid:customer_id>/next-best-actions/<str:rule_id>/dismissed",
        nba.NbaDismissedView.as_view(),
        name="nba-dismissed",
    ),
    path("threads", threads.ThreadListView.as_view(), name="threads"),
    path("threads/<anyuuid:thread_id>", threads.ThreadDetailView.as_view(), name="thread"),
    path("threads/<anyuuid:thread_id>/resolve", threads.ThreadResolveView.as_view(), name="thread-resolve"),
    path("threads/<anyuuid:thread_id>/reopen", threads.ThreadReopenView.as_view(), name="thread-reopen"),
    path("threads/<anyuuid:thread_id>/assign", threads.ThreadAssignView.as_view(), name="thread-assign"),
    path("threads/<anyuuid:thread_id>/notes", threads.ThreadNoteView.as_view(), name="thread-notes"),
    path("analytics/surveys", analytics.SurveyMeasuresView.as_view(), name="analytics-surveys"),
    path("analytics/handling", analytics.HandlingMeasuresView.as_view(), name="analytics-handling"),
    path("analytics/effort", analytics.EffortMeasuresView.as_view(), name="analytics-effort"),
    path("analytics/journeys", analytics.JourneyMeasuresView.as_view(), name="analytics-journeys"),
    path("analytics/outcomes", analytics.OutcomeMeasuresView.as_view(), name="analytics-outcomes"),
    path("callbacks", callbacks.CallbackListView.as_view(), name="callbacks"),
    path("callbacks/<anyuuid:callback_id>", callbacks.CallbackDetailView.as_view(), name="callback"),
    path(
        "callbacks/<anyuuid:callback_id>/cancel",
        callbacks.CallbackCancelView.as_view(),
        name="callback-cancel",
    ),
    path(
        "callbacks/<anyuuid:callback_id>/accept",
        callbacks.CallbackAcceptView.as_view(),
        name="callback-accept",
    ),
    path(
        "callbacks/<anyuuid:callback_id>/decline",
        callbacks.CallbackDeclineView.as_view(),
        name="callback-decline",
    ),
    path(
        "callbacks/<anyuuid:callback_id>/outcome",
        callbacks.CallbackOutcomeView.as_view(),
        name="callback-outcome",
    ),
    path("followups", followups.FollowupListView.as_view(), name="followups"),
    path(
        "followups/<anyuuid:followup_id>/close",
        followups.FollowupCloseView.as_view(),
        name="followup-close",
    ),
    path(
        "followups/<anyuuid:followup_id>/callback",
        followups.FollowupCallbackView.as_view(),
        name="followup-callback",
    ),
]
