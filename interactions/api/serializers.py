"""Input and output serializers of the REST API (also the OpenAPI description)."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers


class IngestResultSerializer(serializers.Serializer):
    id = serializers.CharField()
    source = serializers.CharField()
    position = serializers.IntegerField()
    duplicate = serializers.BooleanField(help_text="True when this (source, id) was already in the log.")


class BatchIngestSerializer(serializers.Serializer):
    results = IngestResultSerializer(many=True)


class LogQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(min_value=0, default=0, help_text="Return events after this position.")
    limit = serializers.IntegerField(min_value=1, default=100, help_text="At most this many (<= 1000).")

    def validate_limit(self, value: int) -> int:
        cap = settings.THREADLINE_MAX_BATCH
        if value > cap:
            raise serializers.ValidationError(f"limit is at most {cap}")
        return value


class LoggedEventSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    stream = serializers.CharField()
    stream_version = serializers.IntegerField()
    schema_version = serializers.IntegerField()
    recorded_at = serializers.DateTimeField()
    metadata = serializers.DictField()
    event = serializers.DictField(help_text="The CloudEvent as stored (card data masked).")


class LogPageSerializer(serializers.Serializer):
    events = LoggedEventSerializer(many=True)
    next_after = serializers.IntegerField(help_text="Pass as `after` to read on.")
    has_more = serializers.BooleanField()


class EventTypeSerializer(serializers.Serializer):
    type = serializers.CharField()
    version = serializers.IntegerField()
    current = serializers.BooleanField()
    description = serializers.CharField()
    data_schema = serializers.DictField()
