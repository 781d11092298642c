"""`python -m bench [name ...]`: run benchmarks against PostgreSQL and write docs/benchmarks.md."""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

BENCHMARKS = ("ingest", "lag", "live", "context", "callbacks", "rebuild", "analytics")


def main() -> None:
    from bench import common

    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    for name in common.chosen(parser, BENCHMARKS, "benchmark"):
        module = __import__(f"bench.{name}", fromlist=["run"])
        module.run(command=f"DATABASE_URL=postgres://... python -m bench {name}")


if __name__ == "__main__":
    from bench import common

    common.entry_point(main)
