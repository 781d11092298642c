"""Every "may this token do X" rule of the hub, in one place: views, services and consumers all ask here.

`may_*` answers yes or no; `require_*` raises Forbidden with a sentence a person can act on.
"""

from __future__ import annotations

from interactions.access.models import ApiToken, Role
from interactions.errors import Forbidden

PEOPLE = (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)


def _article(role: str) -> str:
    return "an" if role[:1] in "aeiou" else "a"


def _refuse(token: ApiToken, doing: str) -> Forbidden:
    return Forbidden(f"{_article(token.role)} {token.role} token may not {doing}")


# --- Events and the log -------------------------------------------------------------------------------------


def may_post_events(token: ApiToken) -> bool:
    """Integrations and admins post raw events; people (agents, supervisors) act through commands."""
    return token.role in (Role.INTEGRATION, Role.ADMIN)


def require_may_post_events(token: ApiToken) -> None:
    if not may_post_events(token):
        raise _refuse(token, "post raw events")


def may_post_source(token: ApiToken, source: str) -> bool:
    """Admins post for any source; integrations only for sources under their prefix."""
    if token.role == Role.ADMIN:
        return True
    return token.role == Role.INTEGRATION and source.startswith(token.source_prefix)


def may_read_log(token: ApiToken) -> bool:
    """Integrations (their own sources), supervisors and admins replay the log; agents read context."""
    return token.role in (Role.INTEGRATION, Role.SUPERVISOR, Role.ADMIN)


def require_may_read_log(token: ApiToken) -> None:
    if not may_read_log(token):
        raise _refuse(token, "read the raw log; read the customer context instead")


def log_source_filter(token: ApiToken) -> str | None:
    """The source prefix a token's log reads are limited to (None: the whole log)."""
    return token.source_prefix if token.role == Role.INTEGRATION else None


# --- Context, threads and callbacks -------------------------------------------------------------------------


def may_read_context(token: ApiToken) -> bool:
    """Agents, supervisors, admins, and integrations (an IVR or a bot asks before it answers)."""
    return token.role in (Role.INTEGRATION, *PEOPLE)


def require_may_read_context(token: ApiToken) -> None:
    if not may_read_context(token):
        raise _refuse(token, "read customer context")


def require_may_change_threads(token: ApiToken) -> None:
    """Resolve, reopen, assign, add a note: people only."""
    if token.role not in PEOPLE:
        raise _refuse(token, "change threads (it may read context)")


def may_take_threads(token: ApiToken) -> bool:
    """An agent may assign a thread to themselves without naming an agent; others must name one."""
    return token.role == Role.AGENT


def require_may_assign_to(token: ApiToken, agent_id: str) -> None:
    """An agent assigns threads to themselves only; supervisors and admins to any agent."""
    if token.role == Role.AGENT and str(agent_id) != str(token.pk):
        raise Forbidden("an agent may assign a thread only to themselves; a supervisor assigns it to others")


def require_may_request_callbacks(token: ApiToken) -> None:
    """Request or cancel a callback: integrations (an IVR, a web form) and people."""
    if token.role not in (Role.INTEGRATION, *PEOPLE):
        raise _refuse(token, "request or cancel callbacks")


def require_may_answer_offers(token: ApiToken) -> None:
    """Accept, decline or report the outcome of a callback offer: only the agent it was offered to."""
    if token.role != Role.AGENT:
        raise Forbidden("only the agent a callback was offered to may answer it")


def require_may_answer_recommendations(token: ApiToken) -> None:
    """Record that a next best action was taken up or dismissed: people (the agent, or a supervisor for
    them); an integration reads the recommendations in the context but does not answer for a person."""
    if token.role not in PEOPLE:
        raise _refuse(token, "answer next best actions (it may read them in the context)")


# --- Follow-ups (the closed loop) ---------------------------------------------------------------------------


def may_watch_followups(token: ApiToken) -> bool:
    """The follow-up queue (its list, and the `followups` topic): supervisors and admins."""
    return token.role in (Role.SUPERVISOR, Role.ADMIN)


def require_may_watch_followups(token: ApiToken) -> None:
    if not may_watch_followups(token):
        raise _refuse(token, "read the follow-up queue (supervisors and admins do)")


def require_may_act_on_followups(token: ApiToken) -> None:
    """Close a follow-up, or request a callback for it: people. An agent may act on any follow-up, as they
    may read every customer's context (require_may_read_context): the queue is the team's."""
    if token.role not in PEOPLE:
        raise _refuse(token, "close follow-ups or request their callbacks (people do)")


# --- Agents and live subscriptions --------------------------------------------------------------------------


def may_have_status(token: ApiToken) -> bool:
    """Only agents are available, busy or offline."""
    return token.role == Role.AGENT


def may_subscribe(token: ApiToken) -> bool:
    """People's desktops and wallboards subscribe; integrations post and replay instead."""
    return token.role in PEOPLE


def require_may_subscribe(token: ApiToken) -> None:
    if not may_subscribe(token):
        raise _refuse(token, "subscribe")


def may_subscribe_to_everything(token: ApiToken) -> bool:
    """The `all` topic: supervisors and admins."""
    return token.role in (Role.SUPERVISOR, Role.ADMIN)


# --- Operations ---------------------------------------------------------------------------------------------


def may_read_health_details(token: ApiToken) -> bool:
    """/readyz's details (database vendor, each projection's position and last error): supervisors and
    admins. Anyone, without a token, may ask whether the hub is ready."""
    return token.role in (Role.SUPERVISOR, Role.ADMIN)


def require_may_read_health_details(token: ApiToken) -> None:
    if not may_read_health_details(token):
        raise _refuse(token, "read health details (ask without a token whether the hub is ready)")


# --- Measures -----------------------------------------------------------------------------------------------


def may_read_measures(token: ApiToken) -> bool:
    """Experience measures (satisfaction, effort, handling, journeys): supervisors and admins. An agent's
    own figures are a supervisor's to share."""
    return token.role in (Role.SUPERVISOR, Role.ADMIN)


def require_may_read_measures(token: ApiToken) -> None:
    if not may_read_measures(token):
        raise _refuse(token, "read experience measures (supervisors and admins do)")
