"""Message broker adapters (the outbox relay's publishers)."""
