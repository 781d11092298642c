"""URLs of the REST API, version 1."""

from django.urls import path

from interactions.api import views

urlpatterns = [
    path("events", views.EventsView.as_view(), name="events"),
    path("event-types", views.EventTypesView.as_view(), name="event-types"),
]
