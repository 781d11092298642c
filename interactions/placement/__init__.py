"""Placement: which customer an event is about and which task thread it continues, recorded in the log."""
