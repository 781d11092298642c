"""Names an operator gives: usernames, token names, source prefixes, skills and connection names.

They are kept as typed and shown back (in the admin, in the desk, in hook URLs), so each must be text every
database stores, of a bounded length, and must not hold a card number: a name cannot be masked, since two
names would then become one. The commands and the admin check them here, so each gets the same sentence.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from hub.storable import text_problem, unseen_character
from interactions.privacy.redaction import holds_card

CARD_IN_NAME = "holds a card number: card numbers are never stored, and a name cannot be masked"
# A skill is matched against an event's topic (at most 120 characters), so it may be as long.
MAX_SKILL_LENGTH = 120


def name_problem(value: str, *, max_length: int) -> str | None:
    """Why `value` cannot be kept as a name, or None. The sentence never repeats the value."""
    problem = text_problem(value)
    if problem is not None:
        return problem
    if len(value) > max_length:
        return f"is longer than {max_length} characters"
    # First: a number grouped by zero-width spaces is refused as a card number. Also as Django keeps a
    # username, NFKC-normalised: superscript or circled digits (⁴¹¹¹..., ①...) became ASCII digits.
    if holds_card(value) or holds_card(unicodedata.normalize("NFKC", value)):
        return CARD_IN_NAME
    unseen = unseen_character(value)  # invisible or reordering where the name is shown: two could look alike
    if unseen is not None:
        return f"holds an invisible or control character (U+{ord(unseen):04X}), which a name may not"
    return None


def skills_problem(skills: Iterable[object]) -> str | None:
    """Why a list of skills cannot be kept, naming the first bad one by its place (1-based), or None."""
    for place, skill in enumerate(skills, start=1):
        if not isinstance(skill, str):
            return f"skill {place} is not text"
        problem = name_problem(skill, max_length=MAX_SKILL_LENGTH)
        if problem is not None:
            return f"skill {place} {problem}"
    return None


def skills_normalised(skills: Iterable[str] | None) -> list[str]:
    """Skills as they are kept: trimmed, lower case, without blanks or repeats, sorted."""
    return sorted({s.strip().lower() for s in (skills or []) if s.strip()})
