"""Settings of the test run: the project's, plus a test-only app with subscriptions of its own."""

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.hub.tally"]

# Subscriptions are applied in place after every append, unless a test is about runners (they turn it off).
THREADLINE_SUBSCRIPTIONS_EAGER = True

# The corpora send hundreds of frames over one socket as fast as the machine goes: a frame refused for its
# rate gets an error frame, and a check that expects an error would pass on it. The limit's own tests
# (tests/channels_app/test_limits.py) set the budget they test.
THREADLINE_WS_FRAMES_PER_SECOND = 1e6
THREADLINE_WS_FRAME_BURST = 10**6
