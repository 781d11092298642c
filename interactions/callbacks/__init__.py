"""Callbacks: allowed hours, requests and transitions, the dispatcher that offers them, its tasks."""
