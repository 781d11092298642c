"""The customer context: everything an agent, IVR or bot needs before answering, in one read."""
