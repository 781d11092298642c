"""`python -m bench [name ...]`: run benchmarks against PostgreSQL and write docs/benchmarks.md."""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

BENCHMARKS = ("ingest", "live", "context", "callbacks")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", metavar="name", help=f"one of {', '.join(BENCHMARKS)} (default: all)"
    )
    args = parser.parse_args()
    names = args.names or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    from bench import common

    try:
        for name in names:
            module = __import__(f"bench.{name}", fromlist=["run"])
            module.run(command=f"DATABASE_URL=postgres://... python -m bench {name}")
    except common.BenchError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
