"""Reads of customers: by id (a merged id answers with its survivor), by identifier, and their profile."""

from __future__ import annotations

import uuid
from typing import Any

from hub.errors import NotFound
from interactions.customers.models import Customer, CustomerIdentifier
from interactions.errors import InvalidIdentifier, InvalidRequest
from interactions.identity.identifiers import parse_identifier


def customer_get(customer_id: uuid.UUID | str) -> Customer:
    """The customer, or the survivor it was merged into."""
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise NotFound(f"no customer {customer_id}")
    if customer.merged_into_id:
        customer = Customer.objects.get(pk=customer.merged_into_id)
    return customer


def customer_get_by_identifier(identifier: str) -> Customer:
    """The customer behind an identifier URI (normalised first)."""
    try:
        uri = parse_identifier(identifier).uri
    except InvalidIdentifier as exc:
        raise InvalidRequest(
            str(exc), extra={"errors": [{"field": "identifier", "message": str(exc)}]}
        ) from exc
    row = CustomerIdentifier.objects.filter(uri=uri).select_related("customer").first()
    if row is None:
        raise NotFound(f"no customer has the identifier {uri}")
    return row.customer


def customer_identifiers(customer: Customer) -> list[str]:
    """The customer's identifier URIs, oldest first."""
    return list(
        CustomerIdentifier.objects.filter(customer=customer)
        .order_by("added_at", "uri")
        .values_list("uri", flat=True)
    )


def customer_profile(customer: Customer, identifiers: list[str]) -> dict[str, Any]:
    return {
        "id": customer.pk,
        "identifiers": identifiers,
        "name": customer.name or None,
        "language": customer.language or None,
        "timezone": customer.timezone or None,
        "segment": customer.segment or None,
        "birthday": customer.birthday,
        "preferences": customer.preferences,
        "consent": customer.consent,
        "channel_counts": customer.channel_counts,
        "first_contact_at": customer.first_contact_at,
        "last_contact_at": customer.last_contact_at,
    }
