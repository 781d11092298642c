"""Next best actions: rules over a customer's context that recommend what to do and why, and their take-up."""
