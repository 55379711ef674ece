"""Patron: customer management by rules."""
