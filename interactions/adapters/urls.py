"""The hooks providers call: `/hooks/<provider>/<connection name>/<purpose>` (purposes listed in
interactions.connections.providers)."""

from django.urls import path

from interactions.adapters.twilio import views as twilio

app_name = "hooks"

urlpatterns = [
    path(f"twilio/<slug:name>/{purpose}", view, name=f"twilio-{purpose}")
    for purpose, view in twilio.VIEWS.items()
]
