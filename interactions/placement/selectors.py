"""Reads of placement's write model for other subdomains: who a conversation key belongs to."""

from __future__ import annotations

import uuid

from interactions.placement.models import PlacedCustomer, PlacedIdentifier, PlacedRef, PlacedThread


def survivor_id(customer_id: uuid.UUID | str) -> str | None:
    """The customer as the write model has it now: a merged one's survivor (through every later merge), or
    None for no such customer. Current with every append, whatever the read models' lag."""
    seen: set[str] = set()
    current = PlacedCustomer.objects.filter(pk=customer_id).first()
    while current is not None and current.merged_into and str(current.pk) not in seen:
        seen.add(str(current.pk))
        current = PlacedCustomer.objects.filter(pk=current.merged_into).first()
    return str(current.pk) if current is not None else None


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
