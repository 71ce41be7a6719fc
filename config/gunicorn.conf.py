"""Production gunicorn settings: ``gunicorn -c config/gunicorn.conf.py wsgi:app``.

Every value can be overridden on the command line or with GUNICORN_CMD_ARGS.
"""

import multiprocessing
import os
import shutil
import tempfile

bind = os.environ.get("SCIMSERVER_BIND", "127.0.0.1:8000")
# Threads, not processes, carry the concurrency: SCIM requests wait on the store.
worker_class = "gthread"
workers = int(os.environ.get("SCIMSERVER_WORKERS", min(4, multiprocessing.cpu_count())))
threads = int(os.environ.get("SCIMSERVER_THREADS", 8))
timeout = 30  # a worker stuck this long is restarted
graceful_timeout = 20
keepalive = 5  # IdPs send bursts over one connection
max_requests = 20000  # recycle workers now and then; jitter keeps them from restarting together
max_requests_jitter = 2000
limit_request_line = 8190
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

accesslog = "-"
errorlog = "-"
# The request id (X-Request-Id, echoed by the app) ties access lines to provisioning log rows.
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms rid=%({x-request-id}o)s ua="%(a)s"'

# /metrics adds up all workers' samples from this directory: one per master process,
# made empty at start (stale samples would be counted) and removed at exit.
_own_metrics_dir = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
if _own_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="scimserver-metrics-")


def child_exit(server, worker):  # gunicorn's server hook: a worker has exited
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):  # gunicorn's server hook: the master is shutting down
    if _own_metrics_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
