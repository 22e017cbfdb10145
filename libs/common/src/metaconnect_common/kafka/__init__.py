"""Kafka plumbing: producer wrapper, consumer runner, topic admin, trace propagation."""
