"""Websocket URL routes."""

from django.urls import path, re_path

from channels_app.consumers import AgentConsumer, NoSuchPath

websocket_urlpatterns = [
    path("ws/v1/agent", AgentConsumer.as_asgi()),
    re_path(r"", NoSuchPath.as_asgi()),  # anything else: closed with 4404, not a 500 from the router
]
