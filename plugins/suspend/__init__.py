"""Built-in plugin: suspend instead of delete (filled in below)."""
