"""The hooks providers call: `/hooks/<provider>/<connection name>/<purpose>` (purposes listed in
interactions.connections.providers)."""

from django.urls import path

from interactions.adapters.email import views as email
from interactions.adapters.meta import views as meta
from interactions.adapters.twilio import views as twilio

app_name = "hooks"

urlpatterns = [
    *(
        path(f"twilio/<slug:name>/{purpose}", view, name=f"twilio-{purpose}")
        for purpose, view in twilio.VIEWS.items()
    ),
    path("email/<slug:name>/inbound", email.inbound, name="email-inbound"),
    path("meta/<slug:name>/webhook", meta.webhook, name="meta-webhook"),
]
