"""Sealing the secrets a connection must hold in clear: Fernet, with keys kept out of the database.

The keys come from `THREADLINE_SECRETS_KEY` (a comma-separated list: the first seals, every one opens, so a
key can be replaced without losing what the old one sealed); without it, one key is derived from Django's
SECRET_KEY. Either way a dump of the database alone does not reveal the secrets; the dump together with the
key does.
"""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from hub.errors import ApplicationError


class SecretsUnreadable(ApplicationError):
    """Sealed secrets that none of the configured keys opens (the key changed and the old one is gone)."""


def _fernet(passphrase: str) -> Fernet:
    # Any string is accepted as a key: it is stretched into Fernet's 32 bytes, under a label of its own so
    # that the same SECRET_KEY never yields a key used elsewhere.
    digest = hashlib.sha256(b"threadline connection secrets\0" + passphrase.encode("utf-8")).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _box() -> MultiFernet:
    keys = [k for k in settings.THREADLINE_SECRETS_KEY if k] or [settings.SECRET_KEY]
    return MultiFernet([_fernet(k) for k in keys])


def seal(secrets: dict[str, str]) -> str:
    return _box().encrypt(json.dumps(secrets, sort_keys=True).encode("utf-8")).decode("ascii")


def unseal(sealed: str) -> dict[str, str]:
    if not sealed:
        return {}
    try:
        return json.loads(_box().decrypt(sealed.encode("ascii")))
    except InvalidToken as exc:
        raise SecretsUnreadable(
            "the connection's secrets do not open with THREADLINE_SECRETS_KEY (or SECRET_KEY)"
        ) from exc
