"""The sign-in form: Django's own, except that it never shows back a username holding a card number."""

from __future__ import annotations

from django.contrib.auth.forms import AuthenticationForm

from interactions.privacy.redaction import holds_card, redact_text


class SignInForm(AuthenticationForm):
    """A failed sign-in shows the form again with what was typed as the username. No username holds a card
    number (people.services refuses one), so one typed there is masked before it is checked or shown: the
    sign-in fails as for any unknown name, and the page does not repeat the number."""

    def __init__(self, request=None, *args, **kwargs) -> None:
        super().__init__(request, *args, **kwargs)
        typed = self.data.get(self.add_prefix("username"), "") if self.is_bound else ""
        if isinstance(typed, str) and holds_card(typed):
            self.data = self.data.copy()
            self.data[self.add_prefix("username")] = redact_text(typed)
