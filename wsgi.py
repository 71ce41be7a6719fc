"""``gunicorn wsgi:app`` — the config comes from SCIMSERVER_CONFIG (default config/default.toml)."""

from scimserver.app import create_app

app = create_app()
