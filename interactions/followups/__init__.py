"""Follow-ups (the closed loop): a bad survey answer opens one, due within an SLA; a person closes it, or asks
for a callback; past its SLA it is recorded as breached, once."""
