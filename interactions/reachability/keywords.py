"""SMS opt-out and opt-in keywords, as Twilio applies them on long codes by default.

Twilio's documented defaults ("Twilio support for opt-out keywords", Advanced Opt-Out): STOP, STOPALL,
UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE and OPTOUT opt a number out; START, YES and UNSTOP opt it back in. A
keyword counts only as the whole message, trimmed, in any case ("stop" yes, "please stop" no).
"""

from __future__ import annotations

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN = frozenset({"START", "YES", "UNSTOP"})


def sms_keyword(text: str) -> tuple[str, str] | None:
    """("out" | "in", the keyword) if the whole message is an opt-out or opt-in keyword, else None."""
    word = text.strip()
    if not word.isascii():  # "\u017ftop" (long s) upper-cases to STOP; a carrier compares ASCII letters
        return None
    word = word.upper()
    if word in OPT_OUT:
        return "out", word
    if word in OPT_IN:
        return "in", word
    return None
