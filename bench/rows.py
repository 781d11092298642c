"""The raw ceiling's table and rows, shared by `bench ingest` and the Django floor it serves."""

from __future__ import annotations

import json

RAW_TABLE = """
CREATE TABLE IF NOT EXISTS bench_raw (
    position bigserial PRIMARY KEY, source text NOT NULL, event_id text NOT NULL, type text NOT NULL,
    subject text NOT NULL, occurred_at timestamptz NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now(),
    data jsonb NOT NULL, metadata jsonb NOT NULL DEFAULT '{}', UNIQUE (source, event_id))
"""
RAW_COLUMNS = "source, event_id, type, subject, occurred_at, data"
RAW_INSERT = f"INSERT INTO bench_raw ({RAW_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)"


def raw_row(event: dict) -> tuple:
    return (
        event["source"],
        event["id"],
        event["type"],
        event["subject"],
        event["time"],
        json.dumps(event["data"]),
    )
