"""ISO 4217 currency codes an outcome's value may be in, and how outcome values are written and kept.

The codes are pycountry's (the iso-codes project's copy of ISO 4217's list one, which follows the
maintenance agency's amendments: a withdrawn code such as HRK, or BGN since Bulgaria took the euro, is not
in it), without those that are no money a business is paid in: the precious metals XAU, XAG, XPD and XPT,
the bond-market units XBA to XBD, XTS (for testing) and XXX ("no currency"). Fund codes and units of account
(XDR, CLF, ...) are kept: some contracts are written in them.
"""

from __future__ import annotations

from decimal import Decimal

import pycountry

NOT_MONEY = frozenset({"XAU", "XAG", "XPD", "XPT", "XBA", "XBB", "XBC", "XBD", "XTS", "XXX"})
ISO_4217 = frozenset(currency.alpha_3 for currency in pycountry.currencies) - NOT_MONEY

# Every value has at most 4 decimals, whatever its currency: ISO 4217's minor units go to 4 (CLF, UYW), and
# a unit price or a pro-rated refund may need more than its currency's coins (a refund of 1/3 of 10.00 USD is
# 3.3333). One fixed scale keeps the sums exact as integers: values are kept in ten-thousandths.
DECIMALS = 4
SCALE = 10**DECIMALS
# A single outcome is worth less than a thousand million of its currency: more is a mistake (a value sent in
# minor units, or a card number), and it keeps the sums of millions of outcomes inside a 64-bit integer.
VALUE_MAX = Decimal("999999999.9999")


def to_units(value: str) -> int:
    """A checked decimal string as ten-thousandths of its currency (exact: no float on the way)."""
    return int(Decimal(value) * SCALE)


def from_units(units: int) -> str:
    """Ten-thousandths as a decimal string with all four decimals (`"19.9900"`, `"-5.0000"`), in integers
    (a read of thousands of buckets writes a dozen values each)."""
    whole, part = divmod(abs(units), SCALE)
    return f"{'-' if units < 0 else ''}{whole}.{part:0{DECIMALS}d}"
