"""The background worker: scheduled jobs and continuous outbox delivery."""
