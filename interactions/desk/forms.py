"""The sign-in form: Django's own, except that it never shows back a username holding a card number."""

from __future__ import annotations

from django.contrib.auth.forms import AuthenticationForm

from interactions.people.signin import lockout_minutes, tries_left
from interactions.privacy.redaction import holds_card, redact_text


class SignInForm(AuthenticationForm):
    """A failed sign-in shows the form again with what was typed as the username. No username holds a card
    number (people.services refuses one), so one typed there is masked before it is checked or shown: the
    sign-in fails as for any unknown name, and the page does not repeat the number.

    A failure that leaves one try before the lockout says so (`last_try`, with `lockout_minutes`): else a
    person saw four ordinary refusals, and then the fifth wrong password was itself answered with the
    lockout, with no warning."""

    last_try = False
    lockout_minutes = 0

    def __init__(self, request=None, *args, **kwargs) -> None:
        super().__init__(request, *args, **kwargs)
        typed = self.data.get(self.add_prefix("username"), "") if self.is_bound else ""
        if isinstance(typed, str) and holds_card(typed):
            self.data = self.data.copy()
            self.data[self.add_prefix("username")] = redact_text(typed)

    def get_invalid_login_error(self):
        name = self.cleaned_data.get("username")
        if self.request is not None and isinstance(name, str):
            self.last_try = tries_left(self.request, name) == 1
            self.lockout_minutes = lockout_minutes()
        return super().get_invalid_login_error()
