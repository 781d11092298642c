"""Helpers of the follow-up tests: survey answers posted through the real ingest API."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from tests.interactions.helpers import post


def survey(api, metric: str = "csat", score: int = 1, **overrides: Any) -> dict[str, Any]:
    """Post one survey answer (now, from tel:+15551234567 unless told); the ingest result."""
    data = {"channel": "sms", "metric": metric, "score": score, **overrides.pop("data", {})}
    overrides.setdefault("time", timezone.now().isoformat())
    return post(api, type="survey.answered", data=data, **overrides)
