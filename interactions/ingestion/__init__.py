"""Ingestion: CloudEvents parsed and validated, card data redacted, events placed and appended to the log."""
