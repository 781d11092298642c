"""The benchmark commands' contract (not their figures: nothing here measures time)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import common

ROOT = Path(__file__).resolve().parents[1]


# `python -m <module> <args>` as if the bench extra (eventsourcing, pyinstrument) were not installed: a name
# bound to None in sys.modules makes its import fail, whatever this environment has.
WITHOUT_BENCH_EXTRA = (
    "import runpy, sys; sys.modules.update(eventsourcing=None, pyinstrument=None);"
    "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)"
)


def _run(*args: str, database_url: str = "", bench_extra: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url}
    start = ["-m"] if bench_extra else ["-c", WITHOUT_BENCH_EXTRA]
    return subprocess.run(
        [sys.executable, *start, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("bench_extra", [True, False], ids=["with-extra", "without-extra"])
@pytest.mark.parametrize(
    "command", [("bench", "ingest"), ("bench.profile", "single"), ("bench.compare", "HEAD")]
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
    assert "unknown benchmark nosuch; choose from ingest, live, context, callbacks" in done.stderr


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
