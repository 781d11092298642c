"""Inbound e-mail: a raw RFC 822 message read as it streams in, parsed, and translated into one event."""
