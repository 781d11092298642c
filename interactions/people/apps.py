"""App config of people, whose link from a Django user to an agent identity is a table of its own."""

from django.apps import AppConfig


class PeopleConfig(AppConfig):
    name = "interactions.people"
    label = "people"
    verbose_name = "People (sign-in)"
    default_auto_field = "django.db.models.BigAutoField"
