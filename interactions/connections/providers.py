"""Each provider a connection may be for: its webhook purposes and the secrets a connection of it holds.

The one list of hook URLs: `/hooks/<provider>/<connection name>/<purpose>`. An adapter adds its purposes
here and its views in `interactions/adapters/urls.py`; `add_connection` prints what is listed here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Provider:
    name: str
    purposes: tuple[str, ...]
    # Secrets the hub needs in clear to verify a delivery (an HMAC key): sealed with the secrets key.
    sealed: tuple[str, ...] = ()
    # A secret the provider's side presents as is (a bearer secret): only its salted hash is kept.
    hashed: str | None = None


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            "twilio",
            purposes=("messaging", "message-status", "voice", "recording", "transcription"),
            sealed=("auth_token",),
        ),
        Provider("meta", purposes=("webhook",), sealed=("app_secret", "verify_token")),
        Provider("email", purposes=("inbound",), hashed="secret"),
    )
}


def hook_path(provider: str, name: str, purpose: str) -> str:
    """The path of one hook of a connection (the URL a provider's console is given, without the host)."""
    return f"/hooks/{provider}/{name}/{purpose}"


def hook_paths(provider: str, name: str) -> list[tuple[str, str]]:
    """(purpose, path) of every hook of a connection, in the provider's order."""
    return [(purpose, hook_path(provider, name, purpose)) for purpose in PROVIDERS[provider].purposes]


def source_of(provider: str, name: str) -> str:
    """The CloudEvents `source` of every event a connection's deliveries become: the key its provider ids
    are unique under, so a retry (even days later) is recognised as the same event."""
    return f"/connections/{provider}/{name}"
