"""Metaconnect provider sandbox."""
