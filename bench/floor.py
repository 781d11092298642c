"""The floor under the hub's one-event POST, for `bench ingest`: the smallest Django request that does what
every write must, served the way the hub is (gunicorn, 4 sync workers, the hub's settings and middleware).

`POST /api/v1/events` here reads the bearer token and looks it up (the hub's own `token_authenticate`),
decodes the JSON body and inserts it as one row of the raw ceiling's table in one transaction, then answers
201. No DRF, no validation, no redaction, no placement, no log, no read models. Whatever rate this reaches
with 16 clients on the machine is out of reach of any hub request; beside the peer it says what part of a
target the stack alone leaves.

gunicorn serves it as `bench.floor_wsgi:application` (settings `bench.floor_settings`: the hub's, with this
module as the URL conf).
"""

from __future__ import annotations

import json

from django.db import connection, transaction
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from bench.rows import RAW_INSERT, raw_row
from interactions.access.tokens import token_authenticate


@csrf_exempt
def post_event(request: HttpRequest) -> JsonResponse:
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if request.method != "POST" or scheme != "Bearer" or token_authenticate(raw) is None:
        return JsonResponse({"title": "refused"}, status=401)
    event = json.loads(request.body)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(RAW_INSERT, raw_row(event))
    return JsonResponse({"stored": True}, status=201)


def ready(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ready": True})


urlpatterns = [path("api/v1/events", post_event), path("readyz", ready)]
