"""Built-in plugin: the LDAP directory store."""
