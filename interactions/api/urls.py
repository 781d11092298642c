"""URLs of the REST API, version 1: one module per resource."""

from django.urls import path

from interactions.api import callbacks, context, events, nba, threads

urlpatterns = [
    path("events", events.EventsView.as_view(), name="events"),
    path("event-types", events.EventTypesView.as_view(), name="event-types"),
    path("context", context.ContextByIdentifierView.as_view(), name="context"),
    path(
        "customers/<uuid:customer_id>/context",
        context.ContextByCustomerView.as_view(),
        name="customer-context",
    ),
    path(
        "customers/<uuid:customer_id>/next-best-actions/<str:rule_id>/taken",
        nba.NbaTakenView.as_view(),
        name="nba-taken",
    ),
    path(
        "customers/<uuid:customer_id>/next-best-actions/<str:rule_id>/dismissed",
        nba.NbaDismissedView.as_view(),
        name="nba-dismissed",
    ),
    path("threads", threads.ThreadListView.as_view(), name="threads"),
    path("threads/<uuid:thread_id>", threads.ThreadDetailView.as_view(), name="thread"),
    path("threads/<uuid:thread_id>/resolve", threads.ThreadResolveView.as_view(), name="thread-resolve"),
    path("threads/<uuid:thread_id>/reopen", threads.ThreadReopenView.as_view(), name="thread-reopen"),
    path("threads/<uuid:thread_id>/assign", threads.ThreadAssignView.as_view(), name="thread-assign"),
    path("threads/<uuid:thread_id>/notes", threads.ThreadNoteView.as_view(), name="thread-notes"),
    path("callbacks", callbacks.CallbackListView.as_view(), name="callbacks"),
    path("callbacks/<uuid:callback_id>", callbacks.CallbackDetailView.as_view(), name="callback"),
    path(
        "callbacks/<uuid:callback_id>/cancel", callbacks.CallbackCancelView.as_view(), name="callback-cancel"
    ),
    path(
        "callbacks/<uuid:callback_id>/accept", callbacks.CallbackAcceptView.as_view(), name="callback-accept"
    ),
    path(
        "callbacks/<uuid:callback_id>/decline",
        callbacks.CallbackDeclineView.as_view(),
        name="callback-decline",
    ),
    path(
        "callbacks/<uuid:callback_id>/outcome",
        callbacks.CallbackOutcomeView.as_view(),
        name="callback-outcome",
    ),
]
