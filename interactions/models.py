"""Every model of the domain, gathered for Django (which loads an app's models from here).

Each model lives with its subdomain; code imports it from there. The tables keep the `interactions_` names
and migration history they always had: moving a class between modules changes neither.
"""

from interactions.access.models import ApiToken, Role
from interactions.agents.models import AgentPresence, AgentSocket
from interactions.callbacks.models import Callback, CallbackState
from interactions.customers.models import Customer, CustomerIdentifier
from interactions.threads.models import ConversationRef, Thread, ThreadStatus, TimelineEntry

__all__ = [
    "AgentPresence", "AgentSocket", "ApiToken", "Callback", "CallbackState", "ConversationRef", "Customer",
    "CustomerIdentifier", "Role", "Thread", "ThreadStatus", "TimelineEntry",
]  # fmt: skip
