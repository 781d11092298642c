"""The reachability projection: per address, the facts that decide whether it can be reached now (the last
inbound WhatsApp message, SMS opt-out and opt-in keywords, hard e-mail bounces and later inbound e-mails).

Every fact is the latest time of its kind, so the rows do not depend on the order events are applied in and a
rebuild equals the incremental state. Merges need no handler: the facts are keyed by address, and the context
reads those of the customer's identifiers, which a merge moves to the survivor.
"""

from __future__ import annotations

from datetime import datetime

from hub.events import RecordedEvent
from hub.rows import RowProjector, UnitOfWork
from interactions.catalogue import activity_at
from interactions.errors import InvalidIdentifier
from interactions.identity.identifiers import parse_identifier
from interactions.reachability.keywords import sms_keyword
from interactions.reachability.models import ReachFact

FACT_FIELDS = [
    "whatsapp_inbound_at", "sms_opt_out_at", "sms_opt_out_keyword", "sms_opt_in_at", "email_bounced_at",
    "email_inbound_at",
]  # fmt: skip


class ReachRows(UnitOfWork):
    tables = {"fact": (ReachFact, FACT_FIELDS)}
    kept = ("fact",)

    def fact(self, address: str) -> ReachFact:
        """The address's row: `prefetch` loaded every row the page's events name, so a missing one is new."""
        if address not in self.rows["fact"]:
            self.add("fact", address, ReachFact(address=address))
        return self.rows["fact"][address]


def _later(current: datetime | None, at: datetime) -> bool:
    return current is None or at > current


def _bounced_addresses(event: RecordedEvent) -> list[str]:
    """The hard-bounced recipients as normalised mailto: URIs; one that does not parse is left out (the
    event is in the log already, and a projection must not stop on it)."""
    result = []
    for raw in event.data.get("bounced_recipients") or []:
        if not isinstance(raw, str):
            continue
        uri = raw if raw.lower().startswith("mailto:") else f"mailto:{raw}"
        try:
            result.append(parse_identifier(uri).uri)
        except InvalidIdentifier:
            continue
    return result


def apply_message_received(rows: ReachRows, event: RecordedEvent) -> None:
    data = event.data
    # A START stamped next year must not outrank the STOP the customer sends today, nor hold a WhatsApp
    # window open for a year.
    channel, address = data.get("channel"), event.subject
    at = activity_at(event)
    if channel == "email" and data.get("automated") == "bounce":
        if data.get("bounce") == "hard":
            for uri in _bounced_addresses(event):
                fact = rows.fact(uri)
                if _later(fact.email_bounced_at, at):
                    fact.email_bounced_at = at
                    rows.touch("fact", uri)
        return
    if data.get("automated") or not address:
        return  # an auto-reply is not the customer writing
    fact = None
    if channel == "whatsapp":
        fact = rows.fact(address)
        if _later(fact.whatsapp_inbound_at, at):
            fact.whatsapp_inbound_at = at
    elif channel == "email":
        fact = rows.fact(address)
        if _later(fact.email_inbound_at, at):
            fact.email_inbound_at = at
    elif channel == "sms":
        keyword = sms_keyword(data.get("text") or "")
        if keyword is None:
            return
        fact = rows.fact(address)
        kind, word = keyword
        if kind == "out" and _later(fact.sms_opt_out_at, at):
            fact.sms_opt_out_at, fact.sms_opt_out_keyword = at, word
        elif kind == "in" and _later(fact.sms_opt_in_at, at):
            fact.sms_opt_in_at = at
    if fact is not None:
        rows.touch("fact", address)


class ReachabilityProjector(RowProjector):
    name = "reachability"
    unit = ReachRows
    handlers = {"message.received": apply_message_received}
    tables = (ReachFact,)

    def prefetch(self, unit: UnitOfWork, events: list[RecordedEvent]) -> None:
        addresses = set()
        for event in events:
            if event.data.get("channel") in ("whatsapp", "email", "sms") and event.subject:
                addresses.add(event.subject)
            addresses.update(_bounced_addresses(event))
        unit.load("fact", addresses)
