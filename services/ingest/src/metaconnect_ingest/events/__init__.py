"""Events: the interactions channel apps post."""
