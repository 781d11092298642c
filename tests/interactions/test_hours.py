"""Opening hours and the next allowed moment: weekdays, time zones, DST changes, windows."""

from datetime import UTC, datetime

import pytest

from interactions.callbacks.hours import InvalidHours, WeeklyHours, next_allowed


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


NEW_YORK_CALLING = WeeklyHours.parse("daily 08:00-21:00", "America/New_York")


def test_customer_calling_hours_follow_the_spring_forward_change():
    # 2026-03-08 is the day New York moves from EST (-5) to EDT (-4).
    # The day before, 08:00 local is 13:00 UTC; on the day (after 02:00), 08:00 local is 12:00 UTC.
    assert next_allowed(utc(2026, 3, 7, 10, 0), [NEW_YORK_CALLING]) == utc(2026, 3, 7, 13, 0)
    assert next_allowed(utc(2026, 3, 8, 10, 0), [NEW_YORK_CALLING]) == utc(2026, 3, 8, 12, 0)


def test_hours_whose_limit_falls_in_the_skipped_hour_end_or_start_at_the_change():
    """2026-03-08, New York: the clocks jump from 02:00 EST to 03:00 EDT (07:00 UTC), so 02:30 never comes.
    Read with the offset before the change it was 03:30 EDT: an hour open too long, or opened too late."""
    until_half_past_two = WeeklyHours.parse("daily 00:00-02:30", "America/New_York")
    assert until_half_past_two.is_open(utc(2026, 3, 8, 6, 59))
    assert not until_half_past_two.is_open(utc(2026, 3, 8, 7, 0))  # 03:00 EDT: 02:30 has passed
    assert not until_half_past_two.is_open(utc(2026, 3, 8, 7, 15))
    from_half_past_two = WeeklyHours.parse("daily 02:30-06:00", "America/New_York")
    assert next_allowed(utc(2026, 3, 8, 6, 30), [from_half_past_two]) == utc(2026, 3, 8, 7, 0)
    # The days around it, and an hour at the change itself, are as before.
    assert next_allowed(utc(2026, 3, 7, 6, 0), [from_half_past_two]) == utc(2026, 3, 7, 7, 30)  # EST
    assert next_allowed(utc(2026, 3, 9, 6, 0), [from_half_past_two]) == utc(2026, 3, 9, 6, 30)  # EDT
    from_two = WeeklyHours.parse("daily 02:00-06:00", "America/New_York")
    assert next_allowed(utc(2026, 3, 8, 6, 30), [from_two]) == utc(2026, 3, 8, 7, 0)


def test_customer_calling_hours_follow_the_fall_back_change():
    # 2026-11-01 02:00: EDT (-4) back to EST (-5). 21:00 local ends Oct 31 at 01:00 UTC, Nov 1 at 02:00 UTC.
    assert next_allowed(utc(2026, 11, 1, 0, 30), [NEW_YORK_CALLING]) == utc(2026, 11, 1, 0, 30)  # 20:30 EDT
    assert next_allowed(utc(2026, 11, 1, 1, 30), [NEW_YORK_CALLING]) == utc(
        2026, 11, 1, 13, 0
    )  # -> 08:00 EST
    assert next_allowed(utc(2026, 11, 2, 1, 30), [NEW_YORK_CALLING]) == utc(2026, 11, 2, 1, 30)  # 20:30 EST
    assert next_allowed(utc(2026, 11, 2, 2, 30), [NEW_YORK_CALLING]) == utc(
        2026, 11, 2, 13, 0
    )  # -> 08:00 EST


def test_business_hours_per_weekday_skip_the_weekend():
    berlin = WeeklyHours.parse("mon-fri 09:00-17:00; sat 10:00-12:00", "Europe/Berlin")
    # Saturday 2026-11-21 13:00 UTC is 14:00 in Berlin (CET, +1): closed until Monday 09:00 = 08:00 UTC.
    assert next_allowed(utc(2026, 11, 21, 13, 0), [berlin]) == utc(2026, 11, 23, 8, 0)
    # Saturday morning is open 10:00-12:00 local.
    assert next_allowed(utc(2026, 11, 21, 8, 0), [berlin]) == utc(2026, 11, 21, 9, 0)
    assert berlin.is_open(utc(2026, 11, 23, 15, 59)) and not berlin.is_open(utc(2026, 11, 23, 16, 0))


def test_both_schedules_must_allow_the_moment():
    # The centre in London opens 09:00-17:00; a customer in Tokyo (UTC+9) takes calls 08:00-21:00 local
    # (23:00-12:00 UTC). Only 09:00-12:00 UTC suits both.
    london = WeeklyHours.parse("daily 09:00-17:00", "Europe/London")
    tokyo = WeeklyHours.parse("daily 08:00-21:00", "Asia/Tokyo")
    assert next_allowed(utc(2026, 11, 23, 13, 0), [london, tokyo]) == utc(2026, 11, 24, 9, 0)
    assert next_allowed(utc(2026, 11, 23, 10, 0), [london, tokyo]) == utc(2026, 11, 23, 10, 0)


def test_no_moment_before_the_window_ends_gives_none():
    london = WeeklyHours.parse("mon-fri 09:00-17:00", "Europe/London")
    friday_evening = utc(2026, 11, 20, 18, 0)
    assert next_allowed(friday_evening, [london], until=utc(2026, 11, 22, 23, 0)) is None
    assert next_allowed(friday_evening, [london], until=utc(2026, 11, 23, 9, 30)) == utc(2026, 11, 23, 9, 0)


def test_always_open_and_wrapping_day_ranges():
    assert next_allowed(utc(2026, 11, 23, 3, 17), [WeeklyHours.always()]) == utc(2026, 11, 23, 3, 17)
    weekend = WeeklyHours.parse("sat-sun 00:00-24:00", "UTC")
    assert weekend.is_open(utc(2026, 11, 22, 23, 59)) and not weekend.is_open(utc(2026, 11, 23, 0, 0))
    around = WeeklyHours.parse("fri-mon 10:00-11:00", "UTC")  # fri, sat, sun, mon
    assert [around.is_open(utc(2026, 11, d, 10, 30)) for d in range(20, 25)] == [
        True,
        True,
        True,
        True,
        False,
    ]


@pytest.mark.parametrize(
    ("spec", "zone"),
    [
        ("weekdays 09:00-17:00", "UTC"),
        ("mon 17:00-09:00", "UTC"),
        ("mon 09:00-25:00", "UTC"),
        ("mon 09:60-10:00", "UTC"),
        ("mon-fri 09:00-17:00", "Mars/Olympus"),
    ],
)
def test_malformed_hours_are_refused_with_a_reason(spec, zone):
    with pytest.raises(InvalidHours):
        WeeklyHours.parse(spec, zone)
