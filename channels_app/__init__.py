"""Websocket delivery of committed events to agent desktops."""
