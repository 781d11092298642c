"""Celery tasks of the domain: thin wrappers that take ids and call a service."""

from celery import shared_task

from interactions import services


@shared_task(name="interactions.agent_presence_expire", acks_late=True, ignore_result=True)
def agent_presence_expire(agent_id: str) -> None:
    """After a socket closed and the grace period passed: offline unless the agent is still connected."""
    services.agent_offline_if_gone(agent_id=agent_id)
