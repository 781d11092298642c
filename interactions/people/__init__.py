"""People who sign in (username, password, role, skills), each acting as one agent identity (ApiToken row)."""
