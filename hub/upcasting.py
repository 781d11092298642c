"""Upcasters: pure functions that lift an old event's data to the next schema version, applied on read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

_upcasters: dict[tuple[str, int], Upcaster] = {}


def register_upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register `fn` as the step from `from_version` to `from_version + 1` of `event_type`."""

    def decorator(fn: Upcaster) -> Upcaster:
        key = (event_type, from_version)
        if key in _upcasters and _upcasters[key] is not fn:
            raise ValueError(f"an upcaster for {event_type} v{from_version} is already registered")
        _upcasters[key] = fn
        return fn

    return decorator


def has_upcaster(event_type: str, from_version: int) -> bool:
    return (event_type, from_version) in _upcasters


def upcast(event_type: str, version: int, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Apply every registered step from `version` on; return the version reached and the data."""
    step = _upcasters.get((event_type, version))
    while step is not None:
        data = step(data)
        version += 1
        step = _upcasters.get((event_type, version))
    return version, data


def unregister_upcaster(event_type: str, from_version: int) -> None:
    """Remove a step (for tests that register a temporary chain)."""
    _upcasters.pop((event_type, from_version), None)
