"""Metaconnect router (port 8003)."""
