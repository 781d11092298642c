"""REST API authentication: bearer tokens for machines, the signed-in session for people."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from interactions.access.models import ApiToken
from interactions.access.tokens import token_authenticate
from interactions.people.selectors import person_principal


class BearerTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token>`; request.user becomes the ApiToken."""

    keyword = b"bearer"

    def authenticate(self, request) -> tuple[ApiToken, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts:
            return None
        if parts[0].lower() != self.keyword or len(parts) != 2:
            raise AuthenticationFailed("use the header 'Authorization: Bearer <token>'")
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise AuthenticationFailed("the token is not valid") from exc
        token = token_authenticate(raw)
        if token is None:
            raise AuthenticationFailed("the token is not valid or has been revoked")
        return token, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="threadline"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Describes the bearer token in the OpenAPI schema."""

    target_class = BearerTokenAuthentication
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A token from `manage.py create_token`."}


class PersonSessionAuthentication(SessionAuthentication):
    """A signed-in person's session (the desk); request.user becomes the principal they act as, so every
    access rule applies to them as to a token of their role. Unsafe requests must carry the CSRF token."""

    def authenticate(self, request) -> tuple[ApiToken, None] | None:
        user = getattr(request._request, "user", None)
        principal = person_principal(user)
        if principal is None:
            return None
        self.enforce_csrf(request)
        return principal, None

    def enforce_csrf(self, request) -> None:
        # Django's check reads the form body (`request.POST`) before the header. On DRF's request that parses
        # the body with the view's parsers, which refused a CloudEvents body (415) before the view read it;
        # Django's own request reads a form body only, and leaves any other for the view.
        super().enforce_csrf(request._request)


class PersonSessionScheme(OpenApiAuthenticationExtension):
    """Describes the session cookie in the OpenAPI schema."""

    target_class = PersonSessionAuthentication
    name = "sessionCookie"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "A person signed in at /accounts/login/ (unsafe requests need X-CSRFToken).",
        }
