"""Campaigns: a saved segment, a personalised message through the outbox, a random holdout."""
