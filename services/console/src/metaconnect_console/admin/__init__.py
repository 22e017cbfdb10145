"""Admin pages: channel API keys (ingest), provider accounts (delivery), who may sign in (console)."""
