"""`python -m bench.compare REV`: HTTP ingest of the hub at REV and at this working tree, in one run.

On a shared machine figures drift between runs (this one's raw insert ceiling doubled from one day to the
next), so a claim that a change made ingest faster needs both versions measured side by side. This checks
REV out into a temporary git worktree, gives each version its own scratch database and gunicorn (4 sync
workers, as `bench ingest` runs it), and alternates rounds of the ingest benchmark's single-event and batch
measures between them, so that drift hits both alike. A version that has subscriptions
(`run_subscriptions`) gets its runner too, and after each of its measures the run waits until that runner has
applied everything, so that neither version's backlog takes CPU from the next measure. It prints a table
and writes nothing to docs.
Both versions run with this tree's virtualenv: compare revisions whose dependencies match.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from bench import common
from bench.ingest import hub_batch, hub_single
from bench.traffic import Traffic

MEASURES = {"1 event per request, 16 clients": hub_single, "500 per request, 4 clients": hub_batch}


RUNNER_COMMAND = Path("hub/management/commands/run_subscriptions.py")


def _start(stack: ExitStack, label: str, tree: Path) -> tuple[str, str, Callable[[], object]]:
    """Serve one version; return its base URL, a token and what waits for its runner (if it has one)."""
    url = common.scratch_database_url(f"threadline_compare_{label}")
    env = common.bench_env(url, DATABASE_CONN_MAX_AGE="60")
    common.manage(env, "migrate", "--no-input", cwd=tree)
    token = common.create_token(env, f"compare-{label}", "admin", cwd=tree)
    port = common.free_port()
    logs = common.ROOT / "bench" / "results" / f"compare-logs-{label}"
    specs = {"rest": common.gunicorn(port)}
    if (tree / RUNNER_COMMAND).exists():
        specs["runner"] = common.runner()
    procs = stack.enter_context(common.servers(specs, env, logs, cwd=tree))
    base = f"http://127.0.0.1:{port}"
    common.wait_ready(base)
    if "runner" in procs:
        return base, token, lambda: common.wait_caught_up(url, procs["runner"])
    return base, token, lambda: None


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("rev", help="the git revision to compare with (e.g. a commit before your change)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds per version and measure (default 4)")
    args = parser.parse_args()
    common.require_postgresql()
    with tempfile.TemporaryDirectory(prefix="threadline-compare-") as scratch, ExitStack() as stack:
        old_tree = Path(scratch) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(old_tree), args.rev], cwd=common.ROOT, check=True
        )
        stack.callback(
            subprocess.run,
            ["git", "worktree", "remove", "--force", str(old_tree)],
            cwd=common.ROOT,
            check=False,
        )
        versions = {
            args.rev: _start(stack, "base", old_tree),
            "working tree": _start(stack, "head", common.ROOT),
        }
        traffic = Traffic()
        for measure in MEASURES.values():  # warm both servers up before anything counts
            for base, token, settle in versions.values():
                measure(base, token, traffic)
                settle()
        results: dict[tuple[str, str], list[dict]] = {}
        for n in range(args.rounds):
            order = list(versions.items()) if n % 2 == 0 else list(reversed(versions.items()))
            for measure_name, measure in MEASURES.items():
                for label, (base, token, settle) in order:
                    figures = measure(base, token, traffic)
                    settle()
                    results.setdefault((measure_name, label), []).append(figures)
                    print(
                        f"round {n + 1}: {label}, {measure_name}: {figures['events_per_s']:,.0f} events/s",
                        flush=True,
                    )
    rows = []
    for (measure_name, label), rounds in results.items():
        rows.append(
            [
                measure_name,
                label,
                f"{common.median([r['events_per_s'] for r in rounds]):,.0f}",
                ", ".join(f"{r['events_per_s']:,.0f}" for r in rounds),
                f"{common.median([r['p50_ms'] for r in rounds]):.0f}",
                f"{common.median([r['p99_ms'] for r in rounds]):.0f}",
            ]
        )
    print(common.table(rows, ["measure", "version", "events/s (median)", "rounds", "p50 ms", "p99 ms"]))


if __name__ == "__main__":
    common.entry_point(main)
