"""Patron past one machine: PostgreSQL at scale and the scoring SQL on Spark."""
