"""Celery tasks of agents: thin wrappers that take ids and call a service (safe to run twice)."""

from celery import shared_task

from interactions import jobs
from interactions.agents import services


@shared_task(name=jobs.AGENT_PRESENCE_EXPIRE, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def agent_presence_expire(agent_id: str) -> None:
    """After a socket closed and the grace period passed: offline unless the agent is still connected."""
    services.agent_offline_if_gone(agent_id=agent_id)


@shared_task(name=jobs.AGENT_PRESENCE_SWEEP, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def agent_presence_sweep() -> None:
    """Beat's: offline every agent left shown connected without a socket that counts."""
    services.agent_presence_sweep()
