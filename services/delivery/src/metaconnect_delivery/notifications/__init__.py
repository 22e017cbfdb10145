"""Notifications: messages to staff (digests, alerts) through the providers deliveries use."""
