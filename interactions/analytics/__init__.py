"""Experience measures: read models pre-aggregated by hour from the log (the `analytics` subscription), and
the definitions that turn them into the figures supervisors read (box rates, NPS, means)."""
