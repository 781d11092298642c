"""Agents' presence (projected from the log) and their open sockets (operational state)."""

from __future__ import annotations

import uuid

from django.db import models

from interactions.access.models import ApiToken


class AgentPresence(models.Model):
    """An agent's status, projected from agent.status_changed events."""

    agent_id = models.CharField(max_length=64, primary_key=True)
    status = models.CharField(max_length=16)
    changed_at = models.DateTimeField()
    # For routing: among equals, the agent offered a callback least recently gets the next one.
    last_offered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "interactions_agent_presence"

    def __str__(self) -> str:
        return f"{self.agent_id}: {self.status}"


class AgentSocket(models.Model):
    """An open websocket of an agent (operational state, not a projection): who is still connected."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    agent = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="+")
    connected_at = models.DateTimeField(auto_now_add=True)
    # Refreshed while the socket lives; a row not seen for a while belongs to a process that died.
    seen_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "interactions_agent_socket"

    def __str__(self) -> str:
        return f"socket {self.id} of {self.agent_id}"
