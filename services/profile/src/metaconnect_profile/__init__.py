"""Metaconnect profile service."""
