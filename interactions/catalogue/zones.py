"""A customer's time zone as given to the hub: an IANA name of civil time, as tzdata has it. Checked on the
way in only: zones already kept are read as tzdata reads them (interactions.callbacks.hours.zone)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Files of the zone database that are not a place's civil time: the server's own zone (`localtime`), the
# template of POSIX rules, tzdata's "Factory" ("local time zone must be set"), and the `right/` zones,
# which count leap seconds and so run 27 seconds off every clock.
_NOT_CIVIL = {"localtime", "posixrules", "Factory"}


def iana_zone(name: str) -> ZoneInfo:
    """The zone of an IANA name; ValueError if tzdata does not know it or it is not civil time."""
    if name.removeprefix("posix/") in _NOT_CIVIL or name.startswith("right/"):
        raise ValueError(f"{name!r} is not an IANA time zone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{name!r} is not an IANA time zone") from exc
