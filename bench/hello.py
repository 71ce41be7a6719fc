"""The baseline: Flask's hello-world, served by gunicorn on the same settings.

One catch-all route, so the very same wrk script (same method, path and body as
each SCIM scenario) can be replayed against it: the ratio then prices exactly
what the SCIM layer adds on top of Flask + gunicorn.
"""

from flask import Flask

app = Flask(__name__)


@app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
@app.route("/<path:path>", methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
def hello(path: str) -> str:
    return "Hello, World!"
