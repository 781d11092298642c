"""The hooks providers call: `/hooks/<provider>/<connection name>/<purpose>` (connections/providers.py)."""

from django.urls import path

from interactions.adapters.email import views as email
from interactions.adapters.meta import views as meta

urlpatterns = [
    path("email/<slug:name>/inbound", email.inbound, name="hook-email-inbound"),
    path("meta/<slug:name>/webhook", meta.webhook, name="hook-meta-webhook"),
]
