"""factory-boy factories for the rows that are not events (tokens)."""

import factory

from interactions.access.tokens import token_create
from interactions.models import ApiToken, Role


class ApiTokenFactory(factory.Factory):
    """Builds a token through the real service; the raw bearer token is on `.raw`."""

    class Meta:
        model = ApiToken

    name = factory.Sequence(lambda n: f"token-{n}")
    role = Role.INTEGRATION
    source_prefix = factory.LazyAttribute(lambda o: "/" if o.role == Role.INTEGRATION else "")
    skills: list[str] = []

    @classmethod
    def _create(cls, model_class, *, name, role, source_prefix, skills):
        token, raw = token_create(name=name, role=role, source_prefix=source_prefix, skills=skills)
        token.raw = raw
        return token

    _build = _create
