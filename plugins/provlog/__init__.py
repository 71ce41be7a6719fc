"""Built-in plugin: the provisioning log."""
