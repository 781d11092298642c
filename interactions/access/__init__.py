"""Who may do what: API tokens, and every rule of what a token's role allows (one place for all)."""
