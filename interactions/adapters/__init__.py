"""Channel adapters: a provider's deliveries (webhooks, raw e-mail) translated into the hub's CloudEvents."""
