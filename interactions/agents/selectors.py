"""Reads of agent presence."""

from __future__ import annotations

from collections.abc import Collection

from hub import log


def agent_status(agent_id: str) -> str:
    """The agent's status as the log says it now (statuses_now), offline when they never set one: what a
    new desk tab shows, and what the dispatcher offers work by, even while the presence read model lags."""
    return statuses_now([agent_id])[agent_id]


def statuses_now(agent_ids: Collection[str]) -> dict[str, str]:
    """Each agent's status as the log says it now, from their streams (offline when they never set one).
    The presence read model is applied later, by a runner: whoever offers work to the available reads
    this, or an agent who just went offline was offered a call while it lagged (or stood still)."""
    last = log.last_events(f"agent-{agent_id}" for agent_id in agent_ids)
    return {
        agent_id: (event.data["status"] if (event := last.get(f"agent-{agent_id}")) else "offline")
        for agent_id in agent_ids
    }
