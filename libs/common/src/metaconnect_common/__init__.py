"""Metaconnect."""
