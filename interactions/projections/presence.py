"""The presence projection: each agent's status, and when they were last offered a callback (for routing)."""

from __future__ import annotations

from datetime import datetime

from hub.events import RecordedEvent
from hub.rows import RowProjector, UnitOfWork
from interactions.agents.models import AgentPresence


class PresenceRows(UnitOfWork):
    """Few rows, written per page: the last status of each agent and their last offer."""

    def start_page(self) -> None:
        self.status: dict[str, tuple[str, datetime]] = {}
        self.offered: dict[str, datetime] = {}

    def write_page(self) -> None:
        for agent_id, (status, at) in self.status.items():
            AgentPresence.objects.update_or_create(
                agent_id=agent_id, defaults={"status": status, "changed_at": at}
            )
        for agent_id, at in self.offered.items():
            AgentPresence.objects.filter(agent_id=agent_id).update(last_offered_at=at)


def apply_status_changed(rows: PresenceRows, event: RecordedEvent) -> None:
    rows.status[event.data["agent_id"]] = (event.data["status"], event.occurred_at)


def apply_callback_offered(rows: PresenceRows, event: RecordedEvent) -> None:
    """Among equals, the agent offered a callback least recently gets the next one."""
    rows.offered[event.data["agent_id"]] = event.occurred_at


class PresenceProjector(RowProjector):
    name = "presence"
    unit = PresenceRows
    handlers = {"agent.status_changed": apply_status_changed, "callback.offered": apply_callback_offered}
    tables = (AgentPresence,)
