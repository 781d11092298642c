"""The hub's settings with bench.floor as the URL conf (see bench/floor.py)."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.floor"
