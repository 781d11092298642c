"""`X-Twilio-Signature` as Twilio specifies it: the URL it called, then each POST parameter's name and value
in sorted order, HMAC-SHA1 keyed with the account's auth token, base64; compared in constant time."""

from __future__ import annotations

from urllib.parse import urlsplit

from interactions.adapters.hooks import hmac_base64, same

HEADER = "X-Twilio-Signature"


def expected(url: str, params: list[tuple[str, list[str]]], auth_token: str) -> str:
    """The signature Twilio computes for a form POST to `url`. Parameters are sorted by name and, for a
    name sent several times, by value (each distinct value once), as Twilio's own validator does."""
    values: dict[str, set[str]] = {}
    for name, given in params:
        values.setdefault(name, set()).update(given)
    signed = url + "".join(name + value for name in sorted(values) for value in sorted(values[name]))
    return hmac_base64(auth_token, signed)


def _port_variants(url: str) -> list[str]:
    # Twilio may sign the URL with or without the scheme's default port (https://host:443/...), depending
    # on how it was configured; its validators accept both, and so does this one.
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # a Host header with a port out of range (127.0.0.1:99999): Twilio signed no such URL
        return []
    if port is not None:
        host = parts.netloc.rsplit(":", 1)[0]
        return [url, parts._replace(netloc=host).geturl()]
    default = 443 if parts.scheme == "https" else 80
    return [url, parts._replace(netloc=f"{parts.netloc}:{default}").geturl()]


def valid(url: str, params: list[tuple[str, list[str]]], given: str | None, auth_token: str) -> bool:
    """Does `given` sign this request with this auth token?"""
    if not given or not auth_token:
        return False
    # Both variants are always computed and compared, so the time taken does not tell which one matched.
    matches = [same(expected(candidate, params, auth_token), given) for candidate in _port_variants(url)]
    return any(matches)
