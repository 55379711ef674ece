"""Notifications: the outbox, its channels and templates, delivery, and in-app notifications."""
