"""Namespaces of the keyed advisory locks the domain takes (hub.log.lock_keys): one per kind of key."""

# The identifiers a request will place: two first contacts from one phone are placed one after the other.
IDENTIFIER_LOCKS = 1
# A customer's placement and thread commands: its events are decided one request at a time.
CUSTOMER_LOCKS = 2
# An agent's status: two requests setting one agent's status decide against the log one after the other.
AGENT_LOCKS = 4
# The callback router: one dispatcher offers at a time, so no free agent gets two offers.
ROUTING_LOCKS = 3
