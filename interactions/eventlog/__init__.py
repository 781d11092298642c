"""The log as an integration reads it: pages after a position, limited to the token's own sources."""
