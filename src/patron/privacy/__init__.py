"""Personal data requests (PIPL / GDPR): export everything held about a person, or erase it."""
