"""Customers: one person behind many identifiers, read from their projection."""
