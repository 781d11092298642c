"""Meta's webhook checks: the GET verification handshake and `X-Hub-Signature-256` on every POST."""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def signature_valid(body: bytes, header: str | None, app_secret: str) -> bool:
    """Is `header` "sha256=" + the hex HMAC-SHA256 of the raw body keyed with the app secret? Compared in
    constant time, so the answer's timing tells nothing of the expected value."""
    if not header or not app_secret or not header.startswith(PREFIX):
        return False
    expected = hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    # As bytes: compare_digest refuses text that is not ASCII (a header "sha256=\xe9" raised TypeError).
    given = header[len(PREFIX) :].strip().lower().encode("utf-8", "replace")
    return hmac.compare_digest(expected.encode("ascii"), given)


def challenge(params: dict[str, str], verify_token: str) -> str | None:
    """The challenge to echo when the handshake's mode and verify token are right (empty if Meta's
    `hub.challenge` is missing), else None."""
    if params.get("hub.mode") != "subscribe" or not verify_token:
        return None
    given = params.get("hub.verify_token") or ""
    if not hmac.compare_digest(given.encode("utf-8", "replace"), verify_token.encode("utf-8", "replace")):
        return None
    return params.get("hub.challenge") or ""
