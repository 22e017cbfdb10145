"""Metaconnect delivery service."""
