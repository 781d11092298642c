"""Reads of placement's write model for other subdomains: who a conversation key belongs to."""

from __future__ import annotations

from interactions.placement.models import PlacedIdentifier, PlacedRef, PlacedThread


def ref_identifier(ref: str) -> str | None:
    """An identifier of the customer whose thread carries this conversation key (say, the call a recording
    is of), or None if the hub has not seen it. Any of the customer's identifiers leads back to them."""
    thread_id = PlacedRef.objects.filter(ref=ref).values_list("thread_id", flat=True).first()
    if thread_id is None:
        return None
    customer_id = PlacedThread.objects.filter(pk=thread_id).values_list("customer_id", flat=True).first()
    return (
        PlacedIdentifier.objects.filter(customer_id=customer_id)
        .order_by("uri")
        .values_list("uri", flat=True)
        .first()
    )
