"""Live topics: which topics an event is delivered on, and which a token may subscribe to."""
