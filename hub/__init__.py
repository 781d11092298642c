"""The event-sourcing kernel: the append-only log, appending and reading it, projections, the tailer."""
