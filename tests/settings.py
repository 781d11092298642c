"""Settings of the test run: the project's, plus a test-only app with subscriptions of its own."""

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.hub.tally"]

# Subscriptions are applied in place after every append, unless a test is about runners (they turn it off).
THREADLINE_SUBSCRIPTIONS_EAGER = True
