"""Projector versions: a projector declares a `version`, raised whenever a change to it would make different
rows of the same events; each read model records the version that built it (hub.models.BUILT_VERSION_HELP),
and one an older version built is reported until a rebuild replaces its rows."""

from __future__ import annotations


def version_of(projector: object) -> int:
    """The version a projector (inline or subscribed) declares; 1 when it declares none."""
    return int(getattr(projector, "version", 1))


def outdated_sentence(kind: str, name: str, built: int, current: int, command: str) -> str:
    return (
        f"{kind} {name} was built by version {built} of its projector and this code is version {current}:"
        f" its rows mix what both made until it is rebuilt ({command})"
    )
