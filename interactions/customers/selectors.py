"""Reads of customers: by id (a merged id answers with its survivor), by identifier, and their profile."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import connection

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
    # Written out rather than compiled by the ORM on every call: the context read is the hub's hottest read,
    # and compiling a query costs about as much as its round trip (docs/benchmarks.md, context).
    customers, identifiers = Customer._meta.db_table, CustomerIdentifier._meta.db_table
    sql = f"SELECT c.* FROM {customers} c JOIN {identifiers} i ON i.customer_id = c.id WHERE i.uri = %s"
    found = list(Customer.objects.raw(sql, [uri]))
    if not found:
        raise NotFound(f"no customer has the identifier {uri}")
    return found[0]


def customer_identifiers(customer: Customer) -> list[str]:
    """The customer's identifier URIs, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT uri FROM {CustomerIdentifier._meta.db_table} WHERE customer_id = %s"
            " ORDER BY added_at, uri",
            [Customer._meta.pk.get_db_prep_value(customer.pk, connection)],
        )
        return [uri for (uri,) in cursor.fetchall()]


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
