"""`make test` runs pytest-xdist workers side by side: each must keep its own local state and Celery queue,
or a Celery worker one test starts takes another's tasks, and the file-system broker's folders are shared."""

from __future__ import annotations

import json
import os

from config.settings import BASE_DIR
from tests.conftest import run_python

# What tests/settings.py reads and sets: a process of the test run starts with none of them but the worker's.
NAMES = ("PYTEST_XDIST_WORKER", "THREADLINE_VAR_DIR", "THREADLINE_CELERY_QUEUE", "THREADLINE_TEST_WORKER")


def started_with(**names: str) -> tuple[list[str], dict[str, str]]:
    """A process with the test settings and `names` set (the others of NAMES unset): its local state
    directory and Celery queue, and the environment it hands to the processes it starts."""
    env = {k: v for k, v in os.environ.items() if k not in NAMES}
    code = (
        "import json, os; from django.conf import settings;"
        " print(json.dumps([[str(settings.VAR_DIR), settings.CELERY_TASK_DEFAULT_QUEUE],"
        f" {{k: os.environ[k] for k in {NAMES!r} if k in os.environ}}]))"
    )
    done = run_python("-c", code, env={**env, **names, "DJANGO_SETTINGS_MODULE": "tests.settings"})
    assert done.returncode == 0, done.stderr
    state, handed = json.loads(done.stdout)
    return state, handed


def test_each_worker_has_its_own_var_dir_and_queue_and_hands_them_to_the_processes_it_starts():
    var = str(BASE_DIR / "var")

    assert started_with() == ([var, "celery"], {})
    gw3, handed = started_with(PYTEST_XDIST_WORKER="gw3")
    assert gw3 == [f"{var}/xdist-gw3", "celery-gw3"]
    assert started_with(PYTEST_XDIST_WORKER="gw4")[0] == [f"{var}/xdist-gw4", "celery-gw4"]
    # A server a test of gw3 starts with the test settings works where gw3 does, and so do its own children.
    assert started_with(**handed) == (gw3, handed)
