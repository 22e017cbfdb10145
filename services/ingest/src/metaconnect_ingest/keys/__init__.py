"""Channel API keys: hashed, scoped to channels and event types, rate limited."""
