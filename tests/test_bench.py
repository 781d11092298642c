"""The benchmark commands' contract (not their figures: nothing here measures time)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import common
from tests.conftest import requires_postgresql

ROOT = Path(__file__).resolve().parents[1]


# `python -m <module> <args>` as if the bench extra (eventsourcing, pyinstrument) were not installed: a name
# bound to None in sys.modules makes its import fail, whatever this environment has.
WITHOUT_BENCH_EXTRA = (
    "import runpy, sys; sys.modules.update(eventsourcing=None, pyinstrument=None);"
    "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)"
)


def _run(
    *args: str, database_url: str = "", bench_extra: bool = True, **extra_env: str
) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, **extra_env}
    start = ["-m"] if bench_extra else ["-c", WITHOUT_BENCH_EXTRA]
    return subprocess.run(
        [sys.executable, *start, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("bench_extra", [True, False], ids=["with-extra", "without-extra"])
@pytest.mark.parametrize(
    "command",
    [
        ("bench", "ingest"),
        ("bench", "lag"),
        ("bench", "context"),
        ("bench.profile", "single"),
        ("bench.profile", "replay"),
        ("bench.compare", "HEAD"),
    ],
)
@pytest.mark.parametrize("database_url", ["", "sqlite:///var/whatever.sqlite3"])
def test_benchmarks_refuse_anything_but_postgresql_with_a_clear_message(command, database_url, bench_extra):
    done = _run(*command, database_url=database_url, bench_extra=bench_extra)
    assert done.returncode == 2
    assert "benchmarks run on PostgreSQL: set DATABASE_URL" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("command", "missing"),
    [(("bench", "ingest"), "eventsourcing"), (("bench.profile", "single"), "pyinstrument")],
)
def test_without_the_bench_extra_a_benchmark_needing_it_refuses_before_touching_the_database(
    command, missing
):
    # Port 1 has no server: a benchmark that got as far as connecting would fail differently.
    done = _run(*command, database_url="postgres://nobody@127.0.0.1:1/none", bench_extra=False)
    assert done.returncode == 2
    assert f"{missing} is not installed" in done.stderr and "pip install -e '.[dev,bench]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unknown_benchmark_name_is_refused_with_the_choices():
    done = _run("bench", "ingest", "nosuch", database_url="postgres://nobody@127.0.0.1:1/none")
    assert done.returncode == 2
    assert (
        "unknown benchmark nosuch; choose from ingest, lag, live, context, callbacks, rebuild" in done.stderr
    )


def test_an_unknown_profile_name_is_refused_with_the_choices():
    done = _run("bench.profile", "nosuch", database_url="postgres://nobody@127.0.0.1:1/none")
    assert done.returncode == 2
    assert "unknown profile nosuch; choose from single, batch, rebuild, replay" in done.stderr


@pytest.mark.parametrize("value", ["abc", "0", "-5"])
def test_a_size_that_is_not_a_positive_number_is_refused_before_any_work(value):
    done = _run("bench", "lag", database_url="postgres://nobody@127.0.0.1:1/none", BENCH_LAG_SECONDS=value)
    assert done.returncode == 2
    assert f"BENCH_LAG_SECONDS must be a positive number, not {value!r}" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("environment", "expected"),
    [({}, 60), ({"BENCH_QUICK": "1"}, 15), ({"BENCH_QUICK": "1", "BENCH_LAG_SECONDS": "30"}, 30)],
)
def test_sizes_are_full_by_default_smoke_under_bench_quick_and_a_variable_wins(
    monkeypatch, environment, expected
):
    monkeypatch.delenv("BENCH_QUICK", raising=False)
    monkeypatch.delenv("BENCH_LAG_SECONDS", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert common.size("BENCH_LAG_SECONDS", 60, 15) == expected


def test_projection_lag_is_measured_to_the_first_sample_at_or_past_each_event():
    from bench.lag import lags

    # (time, head, positions): "threads" reaches 2 at t=10.5 and 3 at t=11.0; "customers" has both at 10.5.
    samples = [
        (10.0, 3, {"customers": 1, "threads": 1}),
        (10.5, 3, {"customers": 3, "threads": 2}),
        (11.0, 3, {"customers": 3, "threads": 3}),
    ]
    events = [(2, 10.1), (3, 10.2)]  # (position, recorded_at)

    result = lags(events, samples)

    assert result["customers"] == pytest.approx([0.4, 0.3])
    assert result["threads"] == pytest.approx([0.4, 0.8])
    assert result["all"] == pytest.approx([0.4, 0.8])


def test_an_event_a_subscription_never_applied_is_an_error_not_a_figure():
    from bench.lag import lags

    with pytest.raises(common.BenchError, match="subscription threads never applied position 3"):
        lags([(3, 10.0)], [(10.5, 3, {"customers": 3, "threads": 2})])


def test_each_benchmark_rewrites_only_its_own_section_of_the_report(tmp_path, monkeypatch):
    report = tmp_path / "benchmarks.md"
    report.write_text("# Benchmarks\n\nHand-written text stays.\n")
    monkeypatch.setattr(common, "REPORT", report)
    monkeypatch.setattr(common, "server_version", lambda url: "15.0")
    monkeypatch.setattr(
        common,
        "machine",
        lambda: {
            "cores": "2",
            "cpu": "test cpu",
            "memory": "1 GiB",
            "python": "3.11",
            "postgresql": "?",
            "kernel": "test",
        },
    )

    common.write_section("ingest", "## Ingest\n\nfirst", "python -m bench ingest", "postgres://x/y")
    common.write_section("live", "## Live\n\nlive figures", "python -m bench live", "postgres://x/y")
    common.write_section("ingest", "## Ingest\n\nsecond", "python -m bench ingest", "postgres://x/y")

    text = report.read_text()
    assert "Hand-written text stays." in text
    assert "second" in text and "first" not in text
    assert "live figures" in text
    assert text.count("<!-- bench:ingest -->") == 1
    assert "2 cores (test cpu), 1 GiB, PostgreSQL 15.0" in text
    assert "Reproduce: `python -m bench ingest`" in text


def test_a_quick_run_writes_its_sections_beside_the_results_never_into_the_report(tmp_path, monkeypatch):
    report, quick = tmp_path / "benchmarks.md", tmp_path / "results" / "benchmarks-quick.md"
    report.write_text("# Benchmarks\n\n<!-- bench:lag -->\nthe real figures\n<!-- /bench:lag -->\n")
    monkeypatch.setattr(common, "REPORT", report)
    monkeypatch.setattr(common, "QUICK_REPORT", quick)
    monkeypatch.setattr(common, "server_version", lambda url: "15.0")
    monkeypatch.setenv("BENCH_QUICK", "1")

    common.write_section("lag", "## Lag\n\nsmoke figures", "python -m bench lag", "postgres://x/y")

    assert "the real figures" in report.read_text() and "smoke figures" not in report.read_text()
    assert "smoke figures" in quick.read_text()


@requires_postgresql
@pytest.mark.django_db
@pytest.mark.urls("bench.floor")
def test_the_django_floor_stores_one_row_for_a_known_token_and_refuses_others(client):
    from django.db import connection

    from bench.rows import RAW_TABLE
    from bench.traffic import Traffic
    from interactions.access.tokens import token_create

    with connection.cursor() as cursor:
        cursor.execute(RAW_TABLE)
    _, raw = token_create(name="floor", role="admin")
    event = Traffic().event(1)

    def post(authorization: str):
        return client.post(
            "/api/v1/events", event, content_type="application/json", HTTP_AUTHORIZATION=authorization
        )

    assert post("Bearer tl_not-a-token").status_code == 401
    assert post(f"Bearer {raw}").status_code == 201
    with connection.cursor() as cursor:
        cursor.execute("SELECT event_id, subject FROM bench_raw")
        assert cursor.fetchall() == [(event["id"], event["subject"])]
