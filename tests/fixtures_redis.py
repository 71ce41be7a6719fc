"""Session fixtures for the Redis backend."""
