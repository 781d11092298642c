"""WSGI entry point (gunicorn or any WSGI server) for the REST API."""

import os

from django.core.wsgi import get_wsgi_application

from config.startup import freeze_startup_objects

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()
freeze_startup_objects()  # a full garbage collection then walks only what requests allocate
