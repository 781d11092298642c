"""Projections: the read models (customers, threads, timelines, callbacks, presence) applied from the log."""
