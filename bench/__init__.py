"""Benchmarks of the hub's real servers on PostgreSQL (`make bench`, or `python -m bench <name>`)."""
