"""Agents: presence (available, busy, offline) and the sockets that keep it."""
