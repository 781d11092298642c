"""Settings read from the environment: a number that makes no sense stops the process, naming the variable."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from config.settings import BASE_DIR
from tests.conftest import run_python

TEN_YEARS = " and at most 315360000"  # seconds


def check(**environment: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **environment}
    return run_python("manage.py", "check", env=env)


@pytest.mark.parametrize(
    "variable, value, says",
    [
        (
            "THREADLINE_SUBSCRIPTION_LEASE_SECONDS",
            "abc",
            f"must be a number more than 0{TEN_YEARS}, not 'abc'",
        ),
        ("THREADLINE_SUBSCRIPTION_LEASE_SECONDS", "0", f"must be a number more than 0{TEN_YEARS}, not '0'"),
        ("THREADLINE_READ_WAIT_SECONDS", "-1", f"must be a number at least 0{TEN_YEARS}, not '-1'"),
        ("THREADLINE_CALLBACK_TICK_SECONDS", "nan", f"must be a number more than 0{TEN_YEARS}, not 'nan'"),
        # Past the calendar once added to now: every request that did so answered 500.
        (
            "THREADLINE_CONTINUATION_WINDOW_HOURS",
            "1e12",
            "must be a number at least 0 and at most 87600, not '1e12'",
        ),
        (
            "THREADLINE_CALLBACK_RETRY_SECONDS",
            "300, soon",
            f"must be a number at least 0{TEN_YEARS}, not 'soon'",
        ),
        ("THREADLINE_MAX_BATCH", "1.5", "must be a whole number at least 1, not '1.5'"),
        ("THREADLINE_WS_BUFFER", "0", "must be a whole number at least 1, not '0'"),
        ("THREADLINE_SIGN_IN_FAILURE_LIMIT", "0", "must be a whole number at least 1, not '0'"),
        (
            "THREADLINE_SIGN_IN_LOCKOUT_MINUTES",
            "0",
            "must be a number more than 0 and at most 5256000, not '0'",
        ),
        (
            "THREADLINE_WS_FRAMES_PER_SECOND",
            "0",
            "must be a number more than 0 and at most 1000000, not '0'",
        ),
        (
            "THREADLINE_WS_SOCKETS_PER_PRINCIPAL",
            "many",
            "must be a whole number at least 1 and at most 1000000, not 'many'",
        ),
    ],
)
def test_a_number_out_of_range_or_unreadable_stops_the_process_naming_the_variable(variable, value, says):
    done = check(**{variable: value})

    assert done.returncode == 1
    assert done.stderr == f"ImproperlyConfigured: {variable} {says}\n"  # one line, no traceback


@pytest.mark.parametrize("variable", ["THREADLINE_BUSINESS_HOURS", "THREADLINE_CUSTOMER_CALLING_HOURS"])
def test_hours_that_do_not_parse_stop_the_process(variable):
    done = check(**{variable: "daily08:00-21:00"})  # what an unquoted value in .env became under honcho

    assert done.returncode == 1
    assert done.stderr.startswith("ImproperlyConfigured: ") and "'daily08:00-21:00'" in done.stderr


@pytest.mark.parametrize("variable", ["THREADLINE_BUSINESS_HOURS", "THREADLINE_CUSTOMER_CALLING_HOURS"])
@pytest.mark.parametrize("value", ["", " ", ";"])
def test_hours_that_never_open_stop_the_process(variable, value):
    """An empty line in .env parsed as hours open at no time: every callback request was then a 400."""
    done = check(**{variable: value})

    assert done.returncode == 1
    assert done.stderr.startswith("ImproperlyConfigured: ") and f"{variable} opens at no time" in done.stderr


def test_a_rules_file_that_does_not_validate_stops_the_process_in_one_line(tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text('{"rules": [{"id": "x"}]}')

    done = check(THREADLINE_NBA_RULES=str(rules))

    assert done.returncode == 1
    assert done.stderr.startswith(f"ImproperlyConfigured: THREADLINE_NBA_RULES ({rules}): rules.0.predicate")
    assert done.stderr.count("\n") == 1, done.stderr


def test_a_comment_after_a_number_is_left_out():
    done = check(THREADLINE_SUBSCRIPTION_LEASE_SECONDS="5  # seconds")

    assert done.returncode == 0, done.stderr


def test_numbers_in_range_are_taken():
    done = check(
        THREADLINE_SUBSCRIPTION_LEASE_SECONDS="2.5",
        THREADLINE_MAX_BATCH="10",
        THREADLINE_READ_WAIT_SECONDS="0",
        THREADLINE_CALLBACK_RETRY_SECONDS="60, 120  # a minute, then two",
    )

    assert done.returncode == 0, done.stderr


def test_the_embedded_broker_connects_without_a_warning():
    """kombu warned "No hostname was supplied" in the log of every process `make run` starts (worker and beat
    each, at each start) for the default filesystem:// URL: a warning an operator learns to ignore."""
    code = (
        "import logging; logging.basicConfig();"
        " from config.celery import app; connection = app.connection_for_write(); connection._info();"
        " print(connection.transport_cls)"
    )
    env = {k: v for k, v in os.environ.items() if k != "CELERY_BROKER_URL"}
    done = run_python("-c", code, env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"})

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "filesystem"
    assert "WARNING" not in done.stderr, done.stderr


@pytest.mark.parametrize("value", ["my queue", "amq.threadline", "q" * 201, "celery\u00e9"])
def test_a_queue_name_a_broker_would_refuse_or_a_slip_stops_the_process(value):
    done = check(THREADLINE_CELERY_QUEUE=value)

    assert done.returncode == 1
    assert done.stderr == (
        "ImproperlyConfigured: THREADLINE_CELERY_QUEUE must be 1 to 200 letters, digits, '.', '-', '_' or"
        f" ':', not starting with 'amq.', not {value!r}\n"
    )


def test_an_empty_queue_name_is_the_default_queue():
    # Left empty (`THREADLINE_CELERY_QUEUE=` in .env), Celery routed every task to no queue: a KeyError.
    code = (
        "from config.celery import app;"
        " print(app.amqp.router.route({}, 'interactions.threads_idle')['queue'].name)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "THREADLINE_CELERY_QUEUE": "  # none"}

    done = run_python("-c", code, env=env)

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["celery"]


def test_a_deployment_names_the_queue_its_tasks_go_to_and_its_workers_take():
    """Two deployments on one broker (staging beside production, or the test run's parallel workers) each
    take only their own tasks: a task, beat's ticks among them, is routed to the named queue and a worker
    started with these settings consumes that queue alone."""
    code = (
        "from config.celery import app;"
        " print(app.amqp.router.route({}, 'interactions.followups_breach')['queue'].name);"
        " print(','.join(sorted(app.amqp.queues)))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "THREADLINE_CELERY_QUEUE": "staging"}
    done = run_python("-c", code, env=env)

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["staging", "staging"]


def test_a_local_env_file_sets_where_the_embedded_defaults_keep_their_files(tmp_path):
    """THREADLINE_VAR_DIR was read before the project's .env: set there, it was ignored, and the SQLite
    database and the broker's folders stayed under var/. The project's config package, copied beside a .env
    of its own, is imported from there."""
    shutil.copytree(BASE_DIR / "config", tmp_path / "config", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / ".env").write_text(f"THREADLINE_VAR_DIR={tmp_path / 'elsewhere'}\n")
    env = {k: v for k, v in os.environ.items() if k != "THREADLINE_VAR_DIR"}
    code = "import config.settings as s; print(s.__file__); print(s.VAR_DIR)"

    done = run_python("-c", code, env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"}, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(tmp_path / "config" / "settings.py"), str(tmp_path / "elsewhere")]
    assert (tmp_path / "elsewhere" / "static").is_dir() and not (tmp_path / "var").exists()
