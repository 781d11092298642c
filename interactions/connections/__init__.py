"""Provider connections: one provider account each (its name, sealed secrets), and what its hooks ignored."""
