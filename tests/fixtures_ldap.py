"""Session fixtures for the LDAP backend."""
