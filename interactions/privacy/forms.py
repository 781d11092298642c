"""Django forms and admin pages that show back what a person typed: card numbers masked first, as every
problem answer and websocket error frame masks them (a value is refused on what was typed, and only then
shown back)."""

from __future__ import annotations

import json

from django import forms

from interactions.privacy.redaction import redact, redact_text


class ShownBackMasked(forms.BaseForm):
    """A form the admin shows again with what was typed when it refuses it: a value holding a card number is
    refused on what was typed, then shown masked, so the page never repeats the number (as the sign-in form
    and every problem answer do not)."""

    def full_clean(self) -> None:
        super().full_clean()
        if not (self.is_bound and self._errors):
            return
        # Django's own messages may quote a value ("Select a valid choice. 4111… is not one of …").
        for field, errors in list(self._errors.items()):
            messages = [redact_text(message) for message in errors]
            if messages != list(errors):
                self._errors[field] = errors.__class__(
                    messages, error_class=errors.error_class, renderer=errors.renderer
                )
        typed = self.data
        shown = {key: [_shown(self.fields.get(key), v) for v in _values(typed, key)] for key in typed}
        if all(shown[key] == _values(typed, key) for key in typed):
            return
        masked = typed.copy()
        for key, values in shown.items():
            if hasattr(masked, "setlist"):
                masked.setlist(key, values)
            else:
                masked[key] = values[0] if values else ""
        self.data = masked


def _values(data, key: str) -> list:
    return data.getlist(key) if hasattr(data, "getlist") else [data[key]]


def _shown(field: forms.Field | None, value: object) -> object:
    """A typed value as the form may show it back: card numbers masked. A JSON field shows its value
    decoded and dumped again, so a number typed with escapes (`\\u00a0` between its groups) is masked
    in the decoded value."""
    if not isinstance(value, str):
        return value
    if isinstance(field, forms.JSONField):
        try:
            decoded = json.loads(value)
        except ValueError:
            return redact_text(value)
        masked, paths = redact(decoded)
        return json.dumps(masked) if paths else value
    return redact_text(value)


class MaskedQuery:
    """A ModelAdmin whose change list shows its query back (the search box, the filters): a card number in
    the query string is masked before the list is built, so the page never repeats it. Searching for one
    finds nothing either way: no name the admin lists may hold one."""

    def changelist_view(self, request, extra_context=None):
        request.GET = masked_query(request.GET)
        return super().changelist_view(request, extra_context)


def masked_query(query):
    """A QueryDict (a query string, a posted form) with every card number in its values masked: the same
    object when none holds one, otherwise a mutable copy. Each value is scanned once."""
    lists = {key: query.getlist(key) for key in query}
    masked = {key: [redact_text(value) for value in values] for key, values in lists.items()}
    if masked == lists:
        return query
    copy = query.copy()
    for key, values in masked.items():
        copy.setlist(key, values)
    return copy
