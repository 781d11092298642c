"""URLs of the REST API, version 1."""

from django.urls import path

from interactions.api import callback_views as cb
from interactions.api import context_views as cv
from interactions.api import views

urlpatterns = [
    path("events", views.EventsView.as_view(), name="events"),
    path("event-types", views.EventTypesView.as_view(), name="event-types"),
    path("context", cv.ContextByIdentifierView.as_view(), name="context"),
    path("customers/<uuid:customer_id>/context", cv.ContextByCustomerView.as_view(), name="customer-context"),
    path("threads", cv.ThreadListView.as_view(), name="threads"),
    path("threads/<uuid:thread_id>", cv.ThreadDetailView.as_view(), name="thread"),
    path("threads/<uuid:thread_id>/resolve", cv.ThreadResolveView.as_view(), name="thread-resolve"),
    path("threads/<uuid:thread_id>/reopen", cv.ThreadReopenView.as_view(), name="thread-reopen"),
    path("threads/<uuid:thread_id>/assign", cv.ThreadAssignView.as_view(), name="thread-assign"),
    path("threads/<uuid:thread_id>/notes", cv.ThreadNoteView.as_view(), name="thread-notes"),
    path("callbacks", cb.CallbackListView.as_view(), name="callbacks"),
    path("callbacks/<uuid:callback_id>", cb.CallbackDetailView.as_view(), name="callback"),
    path("callbacks/<uuid:callback_id>/cancel", cb.CallbackCancelView.as_view(), name="callback-cancel"),
    path("callbacks/<uuid:callback_id>/accept", cb.CallbackAcceptView.as_view(), name="callback-accept"),
    path("callbacks/<uuid:callback_id>/decline", cb.CallbackDeclineView.as_view(), name="callback-decline"),
    path("callbacks/<uuid:callback_id>/outcome", cb.CallbackOutcomeView.as_view(), name="callback-outcome"),
]
