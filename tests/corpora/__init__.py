"""Corpora of inputs every entry point is tried with; a new entry point (a provider's webhook, a websocket
operation) adds itself and its cases here."""
