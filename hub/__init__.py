"""The event-sourcing kernel: the append-only log, appending, reading and upcasting."""
