"""Profiles: one state per customer and what each interaction does to it (`state` documents the vocabulary)."""
