"""Settings of the test run: the project's, plus a test-only app with subscriptions of its own."""

import os
from pathlib import Path

# Under pytest-xdist (`make test` runs one worker per core) each worker keeps its own local state and its own
# Celery queue, so a Celery worker started by one test never takes another's task: it is set in the
# environment, before the project's settings read it, so that the processes a test starts inherit it too
# (once: a server started with these settings inherits the worker's name and what was set for it). The
# databases are pytest-django's, one per worker already.
if (_xdist := os.environ.get("PYTEST_XDIST_WORKER")) and os.environ.get("THREADLINE_TEST_WORKER") != _xdist:
    _var = Path(os.environ.get("THREADLINE_VAR_DIR", Path(__file__).resolve().parent.parent / "var"))
    os.environ["THREADLINE_VAR_DIR"] = str(_var / f"xdist-{_xdist}")
    os.environ["THREADLINE_CELERY_QUEUE"] = f"{os.environ.get('THREADLINE_CELERY_QUEUE', 'celery')}-{_xdist}"
    os.environ["THREADLINE_TEST_WORKER"] = _xdist

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
