"""`make test` runs pytest-xdist workers side by side: each must keep its own local state and Celery queue,
or a Celery worker one test starts takes another's tasks, and the file-system broker's folders are shared."""

from __future__ import annotations

import os

from config.settings import BASE_DIR
from tests.conftest import run_python


def settings_of_worker(worker: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_XDIST_WORKER", "THREADLINE_VAR_DIR")}
    env.pop("THREADLINE_CELERY_QUEUE", None)
    if worker:
        env["PYTEST_XDIST_WORKER"] = worker
    code = (
        "import os; from django.conf import settings; settings.INSTALLED_APPS;"
        " print(settings.VAR_DIR); print(settings.CELERY_TASK_DEFAULT_QUEUE);"
        " print(os.environ.get('THREADLINE_VAR_DIR')); print(os.environ.get('THREADLINE_CELERY_QUEUE'))"
    )
    done = run_python("-c", code, env={**env, "DJANGO_SETTINGS_MODULE": "tests.settings"})
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_each_worker_has_its_own_var_dir_and_queue_and_hands_them_to_the_processes_it_starts():
    var = str(BASE_DIR / "var")

    assert settings_of_worker(None) == [var, "celery", "None", "None"]
    assert settings_of_worker("gw3") == [f"{var}/xdist-gw3", "celery-gw3", f"{var}/xdist-gw3", "celery-gw3"]
    assert settings_of_worker("gw4")[:2] == [f"{var}/xdist-gw4", "celery-gw4"]
