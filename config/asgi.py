"""ASGI entry point: HTTP goes to Django, websockets to channels_app (live agent subscriptions)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Build the Django app before importing anything that touches models (consumers, routing).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.sessions import SessionMiddlewareStack  # noqa: E402

from channels_app.routing import websocket_urlpatterns  # noqa: E402
from config.bodylimit import BodyLimit  # noqa: E402
from config.startup import freeze_startup_objects  # noqa: E402

# Websockets authenticate with a bearer token (query or subprotocol) or, for people signed in to the desk,
# their session cookie; the consumer accepts a session only from the hub's own origin (see same_origin).
application = ProtocolTypeRouter(
    {
        "http": BodyLimit(django_asgi_app),
        "websocket": SessionMiddlewareStack(URLRouter(websocket_urlpatterns)),
    }
)
freeze_startup_objects()  # a full garbage collection then walks only what requests allocate
