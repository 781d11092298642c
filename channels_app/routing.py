"""Websocket URL routes."""

from django.urls import path

from channels_app.consumers import AgentConsumer

websocket_urlpatterns = [
    path("ws/v1/agent", AgentConsumer.as_asgi()),
]
