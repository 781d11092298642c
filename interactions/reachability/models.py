"""The facts about one address (a phone number, an e-mail address) that decide whether it can be reached.

Only facts, never "now" values: the context read turns them into "open until ..." with the clock, so an
answer is true at the moment it is read. Each fact is the latest time of its kind (a maximum), so applying
events in any order, incrementally or in a rebuild, gives the same row.
"""

from __future__ import annotations

from django.db import models


class ReachFact(models.Model):
    # A normalised identifier URI (tel:+15551234567, mailto:jane@example.com). Keyed by address, not by
    # customer: the context reads the facts of the customer's identifiers, so a merge, which moves the
    # identifiers to the survivor, carries their facts with them.
    address = models.CharField(max_length=320, primary_key=True)
    # The customer's last inbound WhatsApp message from this number (not an automated one).
    whatsapp_inbound_at = models.DateTimeField(null=True, blank=True)
    # The last SMS opt-out keyword (STOP, ...) and opt-in keyword (START, ...) from this number.
    sms_opt_out_at = models.DateTimeField(null=True, blank=True)
    sms_opt_out_keyword = models.CharField(max_length=16, blank=True, default="")
    sms_opt_in_at = models.DateTimeField(null=True, blank=True)
    # The last hard bounce of a message to this address, and the last e-mail the customer sent from it.
    email_bounced_at = models.DateTimeField(null=True, blank=True)
    email_inbound_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "reachability_fact"

    def __str__(self) -> str:
        return self.address
