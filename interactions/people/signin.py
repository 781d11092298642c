"""Failed sign-ins are counted, and a name tried too often from one address is locked out for a while
(django-axes, configured in config/settings.py: `THREADLINE_SIGN_IN_FAILURE_LIMIT` failures, then
`THREADLINE_SIGN_IN_LOCKOUT_MINUTES`). The desk's sign-in page and the admin's both go through it.

axes keeps each failed attempt in a table of its own (`axes_accessattempt`): the name tried, the address,
the user agent, the Accept header, the query and the form's fields. What people type there is not checked
like an account's name, so a card number typed (or sent in a header) is masked before it is stored.
"""

from __future__ import annotations

import math

from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render

from interactions.privacy.forms import masked_query
from interactions.privacy.redaction import redact_text


def attempted_name(request, credentials) -> str | None:
    """The name a sign-in tried, with any card number in it masked, cut to what axes's column holds (no
    account's name is longer: a longer one is counted by its start) (AXES_USERNAME_CALLABLE)."""
    name = (credentials or {}).get("username")
    if name is None and request is not None:
        name = request.POST.get("username")
    if not isinstance(name, str):
        return name
    return redact_text(name)[: AccessAttempt._meta.get_field("username").max_length]


class SignInAttempts(AxesDatabaseHandler):
    """axes's database handler, storing what a failed sign-in sent (the user agent, the Accept header, the
    query and form fields) with any card number in it masked."""

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs) -> None:
        if request is not None:
            for name in ("axes_user_agent", "axes_http_accept"):
                value = getattr(request, name, None)
                if isinstance(value, str):
                    setattr(request, name, redact_text(value))
            request.GET = masked_query(request.GET)
            request.POST = masked_query(request.POST)
        super().user_login_failed(sender, credentials, request, **kwargs)


def lockout_minutes() -> int:
    """How long a name is refused at an address once it failed there too often, in whole minutes."""
    return max(1, math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def tries_left(request, name: str) -> int:
    """How many more failed sign-ins of this name from this request's address are allowed before the next
    one locks it out there (0: the next try is refused)."""
    failures = AxesProxyHandler.get_failures(request, {"username": name})
    return max(0, settings.AXES_FAILURE_LIMIT - failures)


def locked_out(request, original_response=None, credentials=None) -> HttpResponse:
    """The page a locked-out sign-in gets (AXES_LOCKOUT_CALLABLE): 429, with how long and Retry-After."""
    minutes = lockout_minutes()
    response = render(request, "desk/locked.html", {"minutes": minutes}, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response
