"""When a callback may be offered: business hours, and the customer's calling hours in their zone."""

from __future__ import annotations

import logging
from functools import lru_cache

from django.conf import settings

from interactions.callbacks.hours import InvalidHours, WeeklyHours

logger = logging.getLogger(__name__)


@lru_cache(maxsize=64)
def _hours(spec: str, tz: str) -> WeeklyHours:
    return WeeklyHours.parse(spec, tz)


def schedules(customer_timezone: str | None) -> list[WeeklyHours]:
    """Business hours, and the customer's calling hours when their time zone is known. A kept zone tzdata no
    longer knows leaves business hours alone (logged): one callback must not stop every dispatch tick."""
    result = [_hours(settings.THREADLINE_BUSINESS_HOURS, settings.THREADLINE_BUSINESS_TIMEZONE)]
    if customer_timezone:
        try:
            result.append(_hours(settings.THREADLINE_CUSTOMER_CALLING_HOURS, customer_timezone))
        except InvalidHours:
            logger.warning("time zone %r is not known here: only business hours apply", customer_timezone)
    return result


def check_hours_settings() -> None:
    """Fail at start-up, not at the first callback, if the hours settings do not parse. Calling hours are
    read here without `schedules`' leniency, which is for customers' zones: a malformed setting passed the
    check, and every customer's calling hours were then ignored as if their zone were unknown."""
    for name, hours in (
        ("THREADLINE_BUSINESS_HOURS", schedules(None)[0]),
        ("THREADLINE_CUSTOMER_CALLING_HOURS", _hours(settings.THREADLINE_CUSTOMER_CALLING_HOURS, "UTC")),
    ):
        # An empty setting (a blank line in .env) parsed as hours never open: every callback was refused,
        # or every customer whose zone is known, and nothing said why at start-up.
        if not any(hours.days):
            raise InvalidHours(f"{name} opens at no time of the week: write rules like 'mon-fri 08:00-20:00'")
