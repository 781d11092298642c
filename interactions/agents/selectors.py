"""Reads of agent presence."""

from __future__ import annotations

from interactions.agents.models import AgentPresence


def agent_status(agent_id: str) -> str:
    """The agent's status as the presence read model has it: offline when they never set one."""
    row = AgentPresence.objects.filter(agent_id=agent_id).only("status").first()
    return row.status if row else "offline"
