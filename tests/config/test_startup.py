"""A server process's start: every view imported, then the set-up's objects frozen out of the collector's
reach (config/startup.py), so that a full collection in a request walks only what requests allocated. Run
in a fresh interpreter, as a gunicorn worker imports config.wsgi after its fork."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKER = """
import gc, sys, weakref
import config.wsgi
views = vars(sys.modules["interactions.api.analytics"])  # a view module only the URL conf imports
assert gc.get_freeze_count() > 0
assert not any(o is views for o in gc.get_objects()), "the views' namespace is walked by collections"
class Node: pass
node = Node(); node.me = node; gone = weakref.ref(node); del node  # a cycle made after the freeze
gc.collect()
assert gone() is None, "a cycle made after the freeze was not collected"
print("frozen", gc.get_freeze_count())
"""


def test_a_worker_imports_the_views_freezes_them_and_still_collects_what_comes_after():
    done = subprocess.run(
        [sys.executable, "-c", WORKER], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) > 10_000  # Django, DRF and the hub's modules: tens of thousands
