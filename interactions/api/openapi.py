"""What the OpenAPI description says beyond what serializers tell drf-spectacular: the problem+json body of
every error, which roles may call each operation, and CloudEvents in each HTTP mode with the data schema of
every type an integration may post (from the catalogue, so the description cannot drift from validation)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from hub import storable
from interactions import catalogue
from interactions.access.models import Role
from interactions.api.problems import PROBLEM_CONTENT_TYPE
from interactions.identity import identifiers
from interactions.ingestion import cloudevents

COMPONENTS = "#/components/schemas/"

# --- The problem body ---------------------------------------------------------------------------------------


class ProblemFieldErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(
        required=False, min_value=0, help_text="In a batch: the index of the event the error is about."
    )
    field = serializers.CharField(allow_blank=True, help_text="The field, dotted (data.text); '' for all.")
    message = serializers.CharField()


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details. Some problems add members: `min_position` and `position` (503 not caught
    up), `max_batch` (413)."""

    type = serializers.URLField(help_text="https://threadline.dev/problems/<code>: what went wrong, stable.")
    title = serializers.CharField()
    status = serializers.IntegerField(min_value=400, max_value=599)
    detail = serializers.CharField(help_text="A sentence a person can act on.")
    errors = ProblemFieldErrorSerializer(
        many=True, required=False, help_text="Each bad field (400, 422), when known."
    )


_WHY = {
    400: "The request is malformed or a field is invalid (`errors` names each). Nothing was written.",
    401: "No bearer token, or it is not valid or has been revoked.",
    403: "The token's role (or an integration token's source prefix) does not allow this.",
    404: "No such resource.",
    409: "The resource is not in a state that allows this, or `expected_version` has moved on.",
    413: "The body or the batch is over its limit.",
    415: "The Content-Type is not one this operation reads.",
    422: "Events that failed validation, or that the log could not store; `errors` names each by index "
    "and field. Nothing was written.",
    503: "The read models have not reached `min_position` within THREADLINE_READ_WAIT_SECONDS: retry after "
    "Retry-After seconds. The body carries `min_position` and the `position` reached.",
}


def problems(*statuses: int) -> dict[tuple[int, str], OpenApiResponse]:
    """Responses of the given error statuses, each an application/problem+json body."""
    return {
        (status, PROBLEM_CONTENT_TYPE): OpenApiResponse(
            ProblemSerializer,
            description=f"{HTTPStatus(status).phrase}. {_WHY[status]}",
        )
        for status in statuses
    }


AUTHENTICATED = (400, 401, 403)
READ_ERRORS = problems(*AUTHENTICATED, 404, 503)
LIST_ERRORS = problems(*AUTHENTICATED, 503)
FILTERED_LIST_ERRORS = problems(*AUTHENTICATED, 404, 503)  # a filter naming what does not exist
COMMAND_ERRORS = problems(*AUTHENTICATED, 404, 409, 413, 415)
# A command sent again with the same key is done once (interactions.idempotency).
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "pattern": "^[!-~]{1,255}$"},
    OpenApiParameter.HEADER,
    required=False,
    description="Send the same key with a repeat of this request (a retry after a lost answer): it is done "
    "once, and answered as the first was. The key is yours whatever the request: used with another "
    "request, 409. 1 to 255 visible ASCII characters; a new UUID per request serves well.",
)


def ok(serializer: Any, description: str = "", *, status: int = 200) -> dict[int, OpenApiResponse]:
    return {status: OpenApiResponse(serializer, description=description)}


def response_headers(success: int | None = 200, *, waits: bool = False) -> list[OpenApiParameter]:
    """The headers answers carry: Threadline-Position on success (when `success`), WWW-Authenticate on
    401, and Retry-After on 503 (`waits`: a read that honours min_position)."""
    headers = [
        OpenApiParameter(
            "WWW-Authenticate",
            str,
            OpenApiParameter.HEADER,
            response=[401],
            description='Bearer realm="threadline"',
        )
    ]
    if success is not None:
        headers.append(
            OpenApiParameter(
                "Threadline-Position",
                int,
                OpenApiParameter.HEADER,
                # A read's 404 says up to where it looked: "not there" may be "not applied yet".
                response=[success, 404] if waits else [success],
                description="The log position this answer reflects (pass it as min_position to a later "
                "read).",
            )
        )
    if waits:
        headers.append(
            OpenApiParameter(
                "Retry-After", int, OpenApiParameter.HEADER, response=[503], description="Seconds."
            )
        )
    return headers


# --- Roles --------------------------------------------------------------------------------------------------

INTEGRATION, AGENT, SUPERVISOR, ADMIN = (Role.INTEGRATION, Role.AGENT, Role.SUPERVISOR, Role.ADMIN)
EVERY_ROLE = (INTEGRATION, AGENT, SUPERVISOR, ADMIN)
PEOPLE = (AGENT, SUPERVISOR, ADMIN)
ROLES_EXTENSION = "x-threadline-roles"


def roles(*allowed: str, note: str = "") -> dict[str, Any]:
    """`extend_schema` arguments saying which token roles may call an operation (others get 403)."""
    names = [str(role) for role in allowed]
    text = f"**Roles:** {', '.join(names)}." + (f" {note}" if note else "")
    return {"description": text, "extensions": {ROLES_EXTENSION: names}}


# --- Parameters with their bounds ---------------------------------------------------------------------------

MAX_POSITION = 10**18 - 1  # what min_position and after accept: 18 digits, inside a bigint

IDENTIFIER_DESCRIPTION = (
    "An identifier URI: `tel:+15551234567` (a possible phone number; national numbers are read in "
    "THREADLINE_DEFAULT_REGION), `mailto:jane@example.com`, `chat:<visitor id>` (letters, digits, `._~-`), "
    "`social:<platform>:<handle>`, `account:<number>`. At most "
    f"{identifiers.MAX_LENGTH} characters; never a card number."
)
IDENTIFIER_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": identifiers.MAX_LENGTH,
    "description": IDENTIFIER_DESCRIPTION,
    "example": "tel:+15551234567",
}


# --- CloudEvents --------------------------------------------------------------------------------------------

MODES = {
    "application/cloudevents+json": "CloudEvent",
    "application/cloudevents-batch+json": "CloudEventBatch",
    "application/json": "BinaryModeData",
}
EXAMPLE_EVENT = {
    "specversion": "1.0",
    "id": "sms-0001",
    "source": "/sms-gateway/eu-1",
    "type": "message.received",
    "subject": "tel:+15551234567",
    "time": "2026-11-23T10:00:00Z",
    "datacontenttype": "application/json",
    "data": {"channel": "sms", "text": "My bill looks wrong"},
}


def postable_types() -> list[catalogue.EventType]:
    """The types an integration may post (the hub appends the internal ones itself), every version."""
    return [t for versions in catalogue.CATALOGUE.values() for t in versions.values() if not t.internal]


def _component(name: str) -> dict[str, str]:
    return {"$ref": COMPONENTS + name}


def _data_name(event_type: catalogue.EventType) -> str:
    return event_type.schema.__name__


def _envelope(event_type: catalogue.EventType) -> dict[str, Any]:
    """One CloudEvent of one type and version, in structured mode."""
    version = {"type": ["integer", "null"], "enum": [event_type.version, None]}
    if event_type.version == catalogue.current_version(event_type.name):
        version["description"] = "Default: the type's current version."
    return {
        "type": "object",
        "title": f"{event_type.name} (version {event_type.version})",
        "description": event_type.description,
        "required": ["specversion", "id", "source", "type", "subject", "data"],
        "properties": {
            "specversion": {"type": "string", "enum": [cloudevents.SPECVERSION]},
            "id": {
                "type": "string",
                "minLength": 1,
                "maxLength": storable.MAX_ID_BYTES,
                "pattern": "\\S",
                "description": "Unique per source: (source, id) is the idempotency key. At most "
                f"{storable.MAX_ID_BYTES} bytes in UTF-8; never a card number.",
            },
            "source": {
                "type": "string",
                "minLength": 1,
                "maxLength": storable.MAX_SOURCE_BYTES,
                "pattern": "^[^\\s\\uFEFF]+$",
                "description": "A URI-reference; an integration token posts only under its source prefix. "
                f"{catalogue.HUB_SOURCE} is the hub's own. At most {storable.MAX_SOURCE_BYTES} bytes.",
            },
            "type": {"type": "string", "enum": [event_type.name]},
            "subject": {**IDENTIFIER_SCHEMA, "description": "The customer. " + IDENTIFIER_DESCRIPTION},
            "time": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "RFC 3339 with an offset, from 1970-01-01T00:00:00Z to "
                "2199-12-31T23:59:59.999999Z in UTC. Default: when the hub received it.",
            },
            "datacontenttype": {
                "type": ["string", "null"],
                "pattern": "^application/([A-Za-z0-9_.+-]+\\+)?json",
                "default": "application/json",
            },
            "dataschema": {
                "type": ["string", "null"],
                "minLength": 1,
                "maxLength": cloudevents.MAX_DATASCHEMA_BYTES,
                "pattern": cloudevents.DATASCHEMA_PATTERN,
                "description": "An absolute URI.",
            },
            cloudevents.SCHEMA_VERSION_ATTRIBUTE: version,
            "data": _component(_data_name(event_type)),
        },
        "propertyNames": {"pattern": "^[a-z0-9]{1,20}$"},
        "additionalProperties": {
            "description": "An extension attribute: kept, and given back as it came.",
            "oneOf": [
                {"type": "null", "description": "Unset, as if left out (the JSON format)."},
                {"type": "string", "maxLength": cloudevents.MAX_EXTENSION_LENGTH},
                {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1},
                {"type": "boolean"},
            ],
        },
    }


def _data_schemas() -> dict[str, Any]:
    """Every postable type's data schema (pydantic's JSON Schema), and the models they refer to."""
    found: dict[str, Any] = {}
    for event_type in postable_types():
        schema = event_type.schema.model_json_schema(ref_template=COMPONENTS + "{model}")
        found.update(schema.pop("$defs", {}))
        found[_data_name(event_type)] = schema
    return found


def cloudevent_components() -> dict[str, Any]:
    """The components the events operation refers to: an event of each type, an event of any type (by its
    `type`), a batch, and the body of a binary-mode request."""
    types = postable_types()
    names = {t: f"CloudEvent_{t.name.replace('.', '_')}_v{t.version}" for t in types}
    components = _data_schemas()
    for event_type, name in names.items():
        components[name] = _envelope(event_type)
    components["CloudEvent"] = {
        "description": "A CloudEvent 1.0 of one of the catalogue's types (GET /api/v1/event-types).",
        "oneOf": [_component(name) for name in names.values()],
    }
    components["CloudEventBatch"] = {
        "type": "array",
        "minItems": 1,
        "maxItems": settings.THREADLINE_MAX_BATCH,
        "items": _component("CloudEvent"),
        "description": "Written all or nothing, in order, in one transaction.",
    }
    components["BinaryModeData"] = {
        "description": "Binary mode: the event's `data` as the body; its attributes in the ce-* headers "
        "(ce-type names which of these schemas applies).",
        "anyOf": [_component(_data_name(t)) for t in types],
    }
    return components


def binary_mode_headers() -> list[OpenApiParameter]:
    """The ce-* headers of a binary-mode request (with Content-Type: application/json)."""
    only = "Binary mode (Content-Type: application/json) only, where it is required."
    optional = "Binary mode only; optional."
    types = sorted({t.name for t in postable_types()})
    example = {
        "ce-specversion": "1.0",
        "ce-id": "sms-0003",
        "ce-source": "/sms-gateway/eu-1",
        "ce-type": "message.received",
        "ce-subject": "tel:+15551234567",
        "ce-time": "2026-11-23T10:05:00Z",
    }
    described = {
        "ce-specversion": (f"{only} Always 1.0.", {}),
        "ce-id": (only, {}),
        "ce-source": (only, {}),
        "ce-type": (f"{only} One of: {', '.join(types)}.", {}),
        "ce-subject": (only, {}),
        "ce-time": (optional, {}),
    }
    return [
        OpenApiParameter(
            name,
            {"type": "string", **schema},
            OpenApiParameter.HEADER,
            description=f"{text} Percent-encoded UTF-8, as the HTTP binding says.",
            examples=[OpenApiExample("Binary mode", value=example[name])],
        )
        for name, (text, schema) in described.items()
    ]


def add_components(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """drf-spectacular post-processing hook: adds the CloudEvents components the events operation uses."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(cloudevent_components())
    return result
