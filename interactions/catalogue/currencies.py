"""ISO 4217 currency codes an outcome's value may be in, and how outcome values are written and kept.

No currency list ships with Python and no package in the environment holds one, so the list is kept here:
the active codes of ISO 4217's list one (as its maintenance agency, SIX, publishes it, through the 2025
amendments), without those that are no money a business is paid in (the precious metals XAU, XAG, XPD
and XPT, the bond-market units XBA to XBD, XTS for testing and XXX for "no currency"). The fund codes
(BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW) and XDR are kept: some contracts are written in them. Codes
that were withdrawn (HRK, CUC, VEF, MRO, STD, ...) are refused. When ISO amends the list, amend it here.
"""

from __future__ import annotations

from decimal import Decimal

ISO_4217 = frozenset({
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN",
    "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF",
    "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK",
    "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF",
    "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
    "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD",
    "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN",
    "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP",
    "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD",
    "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP",
    "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES",
    "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XDR", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
})  # fmt: skip

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
    """Ten-thousandths as a decimal string with all four decimals (`"19.9900"`, `"-5.0000"`)."""
    return str((Decimal(units) / SCALE).quantize(Decimal(1).scaleb(-DECIMALS)))
