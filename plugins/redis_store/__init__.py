"""Built-in plugin: the Redis store."""
