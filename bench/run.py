"""``make bench``: scimserver vs Flask's hello-world vs scim2-server, in one run.

Starts, each on a free 127.0.0.1 port and on the same gunicorn settings
(``-c config/gunicorn.conf.py``, 1 worker, 8 gthread threads):

* scimserver as production runs it (``wsgi:app``) on a fresh SQLite config;
* the baseline, Flask's hello-world (bench/hello.py);
* the peer, scim2-server from PyPI (bench/peer_app.py), from its own venv.

Then drives the same wrk load (bench/lua/scim.lua, 8 connections) at each, one
scenario at a time with the three targets back to back, so that noise from other
work on the machine hits all three alike and the ratios stay meaningful. Then,
optionally, filter/list latency at 10,000 and 1,000,000 users (seeded through
the store, bench/seed.py), the worker's RSS at 1M, and Bulk import on an
ephemeral PostgreSQL. Writes bench/RESULTS.md.

    .venv/bin/python bench/run.py                 # everything (the default of make bench)
    .venv/bin/python bench/run.py --quick         # 3 s per run, no 1M, smaller PostgreSQL run
    .venv/bin/python bench/run.py --no-large --no-postgres
    .venv/bin/python bench/run.py --profile       # also py-spy profiles of scimserver per scenario

Every loop is bounded: wrk runs for a fixed duration, servers are stopped in
``finally`` blocks and get SIGKILL if this process dies.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "tests"))  # servers.py: free_port, postgres_server
sys.path.insert(0, str(BENCH))

from servers import (  # noqa: E402
    ServerStartError,
    _pdeathsig,
    _postgres_bindir,
    free_port,
    postgres_server,
)
from users import user_body  # noqa: E402

HOST = "127.0.0.1"
LUA = BENCH / "lua" / "scim.lua"
GUNICORN_CONF = REPO / "config" / "gunicorn.conf.py"
PEER_VENV = BENCH / ".venv-peer"
TOOLS_VENV = BENCH / ".venv-tools"
PEER_PACKAGES = ["scim2-server==0.8.3"]  # pinned so figures stay comparable run to run
PROFILES = BENCH / "profiles"

SCENARIOS = ["create", "get", "filter", "patch", "list", "bulk"]
# Reads first, writes last: every target answers the reads on the same collection.
RUN_ORDER = ["get", "filter", "patch", "list", "create", "bulk"]
LABELS = {
    "create": "create user (POST /Users)",
    "get": "get by id (GET /Users/{id})",
    "filter": "filter userName eq (GET /Users?filter=)",
    "patch": "PATCH active",
    "list": "list count=100",
    "bulk": "Bulk create",
}
# issue 6: scimserver ops/s >= x * hello-world, and >= 2x scim2-server
TARGET_VS_HELLO = {"get": 0.6, "filter": 0.6, "patch": 0.6, "create": 0.5, "list": 0.25}
TARGET_VS_PEER = 2.0
TARGET_LARGE = 1.5  # latency at 1M / latency at 10k
TARGET_RSS_MB = 150
TARGET_PG_BULK = 5000  # users/s


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------
# tools


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk is missing: apt-get install -y wrk")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], env=env).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, check=True)
            subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], env=env, check=True)
        found = shutil.which("wrk")
    if not found:
        sys.exit("bench needs wrk (Debian: apt-get install wrk)")
    return found


def ensure_venv(path: Path, packages: list[str], probe: str) -> Path:
    """A venv of its own at ``path`` with ``packages``; returns its python."""
    python = path / "bin" / "python"
    marker = path / ".bench-packages"
    wanted = "\n".join(packages)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    log(f"preparing {path.relative_to(REPO)}: pip install {' '.join(packages)}")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *packages],
        check=True,
    )
    subprocess.run([str(python), "-c", f"import {probe}"], check=True)
    marker.write_text(wanted)
    return python


def peer_python() -> Path:
    gunicorn = importlib.metadata.version("gunicorn")
    # gunicorn at the project's version; prometheus-client for the child_exit hook
    # of config/gunicorn.conf.py, which every target shares.
    pkgs = [*PEER_PACKAGES, f"gunicorn=={gunicorn}", "prometheus-client"]
    return ensure_venv(PEER_VENV, pkgs, "scim2_server")


def py_spy() -> str:
    found = shutil.which("py-spy")
    if found:
        return found
    python = ensure_venv(TOOLS_VENV, ["py-spy"], "os")
    return str(python.parent / "py-spy")


# ---------------------------------------------------------------------------
# servers


@dataclass
class Target:
    name: str  # scimserver | hello | peer
    label: str
    python: Path
    app: str  # WSGI app for gunicorn
    base: str  # path of the SCIM root
    ready_path: str
    token: str = ""
    env: dict[str, str] = field(default_factory=dict)
    pythonpath: str | None = None
    port: int = 0
    popen: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    data_file: Path | None = None  # id<TAB>userName of users created for get/filter/patch

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def argv(self) -> list[str]:
        argv = [str(self.python), "-m", "gunicorn", "-c", str(GUNICORN_CONF)]
        # The production file, with the size the issue asks for and two changes
        # that keep runs comparable: no worker recycling mid-run (it would empty
        # the peer's in-memory store and restart scimserver's worker), and no
        # control socket (one shared path per user; other gunicorns run here).
        argv += ["-w", "1", "-k", "gthread", "--threads", "8", "-b", f"{HOST}:{self.port}"]
        argv += ["--max-requests", "0", "--no-control-socket"]
        if self.pythonpath:
            argv += ["--pythonpath", self.pythonpath]
        return [*argv, self.app]

    def start(self, workdir: Path) -> None:
        self.port = free_port()
        self.log_path = workdir / f"{self.name}-{self.port}.log"
        metrics = workdir / f"metrics-{self.name}-{self.port}"
        metrics.mkdir()
        env = {**os.environ, **self.env, "PROMETHEUS_MULTIPROC_DIR": str(metrics)}
        env.pop("GUNICORN_CMD_ARGS", None)
        with self.log_path.open("wb") as out:
            self.popen = subprocess.Popen(
                self.argv(),
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_pdeathsig(signal.SIGTERM),
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.tail()}")
            if self._answers():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within 60 s:\n{self.tail()}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=1) as s:
                s.sendall(f"GET {self.ready_path} HTTP/1.0\r\n\r\n".encode())
                return s.recv(16).startswith(b"HTTP/1.")
        except OSError:
            return False

    def tail(self) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_bytes()[-3000:].decode(errors="replace")
        return ""

    def worker_pid(self) -> int:
        assert self.popen is not None
        pid = self.popen.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if len(children) != 1:
            raise RuntimeError(f"{self.name}: expected one gunicorn worker, found {children}")
        return int(children[0])

    def rss_mb(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) of the worker, in MB (MiB)."""
        status = Path(f"/proc/{self.worker_pid()}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        kb = lambda key: int(fields[key].split()[0])  # noqa: E731
        return kb("VmRSS") / 1024, kb("VmHWM") / 1024

    def wait_idle(self, limit: float = 180.0) -> float:
        """Wait until the worker burns < 5% of a CPU (requests still running after wrk
        stopped would otherwise eat into the next run); returns the seconds waited."""
        started = time.monotonic()
        tick = os.sysconf("SC_CLK_TCK")
        stat = Path(f"/proc/{self.worker_pid()}/stat")

        def cpu() -> float:
            fields = stat.read_text().rpartition(")")[2].split()
            return (int(fields[11]) + int(fields[12])) / tick  # utime + stime

        last = cpu()
        while time.monotonic() - started < limit:
            time.sleep(0.5)
            now = cpu()
            if now - last < 0.025:
                break
            last = now
        return time.monotonic() - started

    def stop(self) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(25)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.popen = None

    # -- a tiny HTTP client for set-up and checks (not for load) -------------

    def call(
        self, conn: http.client.HTTPConnection, method: str, path: str, body: Any = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/scim+json"
        conn.request(method, self.base + path, body=data, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        return response.status, (json.loads(raw) if raw else None)

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(HOST, self.port, timeout=120)

    def user_count(self) -> int:
        conn = self.connection()
        try:
            status, body = self.call(conn, "GET", "/Users?count=0")
        finally:
            conn.close()
        if status != 200:
            raise RuntimeError(f"{self.name}: GET /Users?count=0 answered {status}: {body}")
        return int(body["totalResults"])

    def settled_user_count(self, limit: float = 300.0) -> tuple[int, float]:
        """The user count once in-flight writes are done (wrk stops mid-request, the
        server finishes them), and the monotonic time it last grew."""
        deadline = time.monotonic() + limit
        last, changed = self.user_count(), time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - changed < 1.5:
            time.sleep(0.25)
            now = self.user_count()
            if now != last:
                last, changed = now, time.monotonic()
        return last, changed


def seed_api(target: Target, count: int, path: Path, clients: int = 8) -> None:
    """``count`` users through POST /Users; their id and userName go to ``path``."""

    def work(part: int) -> list[tuple[str, str]]:
        conn = target.connection()
        out = []
        try:
            for n in range(part, count, clients):
                name = f"pool-{n:06d}@bench.example"
                status, body = target.call(conn, "POST", "/Users", user_body(name, n))
                if status != 201:
                    raise RuntimeError(f"{target.name}: seeding POST answered {status}: {body}")
                out.append((body["id"], name))
        finally:
            conn.close()
        return out

    with ThreadPoolExecutor(clients) as pool:
        rows = [row for part in pool.map(work, range(clients)) for row in part]
    rows.sort(key=lambda r: r[1])
    path.write_text("".join(f"{i}\t{n}\n" for i, n in rows))
    target.data_file = path


def write_config(root: Path, store_url: str, control_url: str) -> Path:
    path = root / "scimserver.toml"
    path.write_text(
        f'[control]\nurl = "{control_url}"\n'
        f'[store]\nbackend = "sql"\n[store.sql]\nurl = "{store_url}"\n'
    )
    return path


def scimserver_target(root: Path, store_url: str, label: str) -> tuple[Target, Any]:
    """A scimserver on a fresh config, with an org and a token made through tenancy."""
    from scimserver.app import build_server
    from scimserver.config import load

    root.mkdir(parents=True, exist_ok=True)
    path = write_config(root, store_url, store_url)
    admin = build_server(load(path, environ={}))
    admin.tenancy.create_org("bench", "Bench", enterprise=True)
    admin.tenancy.enable_provisioning("bench")
    _, token = admin.tenancy.issue_token("bench", "onelogin", regenerate=False)
    target = Target(
        "scimserver",
        label,
        Path(sys.executable),
        "wsgi:app",
        "/scim/v2",
        "/healthz",
        token=token,
        env={"SCIMSERVER_CONFIG": str(path)},
    )
    return target, admin


@contextlib.contextmanager
def running(targets: list[Target], workdir: Path) -> Iterator[None]:
    try:
        for target in targets:
            target.start(workdir)
            log(f"{target.name} up on {target.url} (worker {target.worker_pid()})")
        yield
    finally:
        for target in targets:
            target.stop()


# ---------------------------------------------------------------------------
# load


@dataclass
class Run:
    target: str
    scenario: str
    clients: int
    duration_s: float
    requests: int
    errors: dict[str, int]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    ops_per_request: int = 1
    verified: str = ""
    server_ops: float | None = None  # Bulk: users created / seconds until the last one

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def ops(self) -> float:
        if self.server_ops is not None:
            return self.server_ops
        return self.rps * self.ops_per_request

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


class Load:
    def __init__(self, wrk: str, args: argparse.Namespace) -> None:
        self.wrk = wrk
        self.args = args
        self.nonce = uuid.uuid4().hex[:6]
        self.seq = 0

    def run(
        self,
        target: Target,
        scenario: str,
        duration: float,
        *,
        clients: int | None = None,
        bulk_ops: int = 100,
        seeded: int = 0,
        timeout: str = "30s",
    ) -> Run:
        clients = clients or self.args.clients
        self.seq += 1
        tag = f"{scenario[:2]}{self.nonce}{self.seq}"
        data = str(target.data_file) if target.data_file else "-"
        argv = [self.wrk, "-t", str(min(self.args.wrk_threads, clients)), "-c", str(clients)]
        argv += ["-d", f"{max(1, round(duration))}s", "--timeout", timeout, "--latency"]
        argv += ["-s", str(LUA)]
        argv += [target.url + target.base, "--", scenario, target.base, target.token or "-"]
        argv += [data, tag, str(bulk_ops), str(seeded)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 180)
        line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
        if done.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        res = json.loads(line.removeprefix("BENCH_RESULT "))
        lat = res["latency_us"]
        return Run(
            target.name,
            scenario,
            clients,
            res["duration_us"] / 1e6,
            res["requests"],
            res["errors"],
            lat["p50"] / 1000,
            lat["p90"] / 1000,
            lat["p99"] / 1000,
            lat["max"] / 1000,
            ops_per_request=bulk_ops if scenario == "bulk" else 1,
        )

    def measured(self, target: Target, scenario: str, **kw: Any) -> Run:
        """Warm-up, then the measured run; Bulk results are checked against the store."""
        duration = kw.pop("duration", self.args.duration)
        if self.args.warmup > 0:
            self.run(target, scenario, self.args.warmup, **kw)
            target.wait_idle()
        # Bulk: a request can take longer than the run, so users/s is counted on the
        # server: users created from the start until the last one of the requests in
        # flight when wrk stopped; and they must be exactly the operations sent.
        check = scenario == "bulk" and target.name != "hello"
        before = target.settled_user_count()[0] if check else 0
        started = time.monotonic()
        result = self.run(target, scenario, duration, **kw)
        if check:
            after, last_change = target.settled_user_count()
            created = after - before
            per = result.ops_per_request
            low, high = result.requests * per, (result.requests + result.clients) * per
            ok = low <= created <= high and created % per == 0
            result.server_ops = created / max(last_change - started, result.duration_s)
            result.verified = f"{created:,} users in {last_change - started:.1f} s" + (
                "" if ok else " (MISMATCH with the operations sent)"
            )
            if not ok:
                log(f"!! {target.name} bulk: {created} users for {result.requests} requests")
        drained = target.wait_idle()
        if drained > 3:
            log(f"{target.name}: requests still running after wrk stopped: {drained:.0f} s")
        tail = f" {result.verified}" if result.verified else ""
        log(
            f"{target.name:10} {scenario:14} c={result.clients} {result.ops:9.1f} ops/s "
            f"p50 {result.p50_ms:7.2f} ms p99 {result.p99_ms:7.2f} ms "
            f"errors {result.error_count}{tail}"
        )
        return result


# ---------------------------------------------------------------------------
# profiles


def profile(
    load: Load, target: Target, scenario: str, name: str, duration: float, **kw: Any
) -> Path:
    """py-spy on the worker while wrk drives ``scenario``; a summary in bench/profiles/.

    Two recordings: ``--gil`` (the thread holding the GIL: where the worker's one
    core of Python goes, which is what caps its throughput) and on-CPU (adds the
    time spent in SQLite and socket calls with the GIL released).
    """
    spy = py_spy()
    PROFILES.mkdir(exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-spy-"))
    parts = [f"# {name}: py-spy record of the gunicorn worker while wrk drives {scenario!r}", ""]
    try:
        for mode, flags in (("gil", ["--gil"]), ("cpu", [])):
            raw = tmp / f"{name}-{mode}.txt"
            argv = [spy, "record", "-p", str(target.worker_pid()), "-d", f"{int(duration) + 1}"]
            argv += ["-r", "200", "-f", "raw", "-o", str(raw), "--nonblocking", *flags]
            spy_proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(0.5)
            try:
                load.run(target, scenario, duration, **kw)
            finally:
                try:
                    spy_proc.wait(duration + 60)
                except subprocess.TimeoutExpired:
                    spy_proc.kill()
                    spy_proc.wait()
            if not raw.exists():
                parts.append(f"## {mode}: py-spy wrote nothing ({spy_proc.stderr.read()[-500:]!r})")
                continue
            shutil.copy(raw, PROFILES / f"{name}-{mode}.collapsed")
            parts.append(summarize_profile(raw, mode))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary = PROFILES / f"{name}.txt"
    summary.write_text("\n".join(parts))
    log(f"profile: {summary.relative_to(REPO)}")
    return summary


def summarize_profile(raw: Path, mode: str, top: int = 25) -> str:
    """Inclusive samples of project frames, self samples of all frames (file:line)."""
    self_count: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = stack.split(";")
        # Only request-handling threads: gthread's pool threads run handle().
        if not count_text.isdigit() or not any("(gunicorn/workers/gthread.py" in f for f in frames):
            continue
        count = int(count_text)
        total += count
        self_count[frames[-1]] = self_count.get(frames[-1], 0) + count
        for frame in set(frames):
            incl[frame] = incl.get(frame, 0) + count
    pct = lambda n: f"{100 * n / max(total, 1):5.1f}%"  # noqa: E731
    out = [f"## {mode}: {total} samples in request threads", ""]
    out.append("### inclusive, project code (scimserver/, plugins/)")
    mine = [(f, n) for f, n in incl.items() if "(scimserver/" in f or "(plugins/" in f]
    out += [f"{pct(n)}  {f}" for f, n in sorted(mine, key=lambda kv: -kv[1])[:top]]
    out += ["", "### inclusive, libraries"]
    libs = [(f, n) for f, n in incl.items() if (f, n) not in mine and "threading.py" not in f]
    libs = [(f, n) for f, n in libs if "concurrent/futures" not in f]
    out += [f"{pct(n)}  {f}" for f, n in sorted(libs, key=lambda kv: -kv[1])[:top]]
    out += ["", "### self"]
    out += [f"{pct(n)}  {f}" for f, n in sorted(self_count.items(), key=lambda kv: -kv[1])[:top]]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------
# phases


def phase_main(load: Load, args: argparse.Namespace, workdir: Path, out: dict[str, Any]) -> None:
    scim, admin = scimserver_target(
        workdir / "scimserver", f"sqlite:///{workdir / 'scimserver' / 'scim.db'}", "scimserver"
    )
    admin.close()
    hello = Target("hello", "Flask hello-world", Path(sys.executable), "hello:app", "/scim/v2",
                   "/", pythonpath=str(BENCH))  # fmt: skip
    targets = [hello, scim]
    if not args.no_peer:
        token = "peer-" + uuid.uuid4().hex
        peer = Target("peer", "scim2-server " + PEER_PACKAGES[0].split("==")[1], peer_python(),
                      "peer_app:app", "/v2", "/v2/ServiceProviderConfig", token=token,
                      env={"BENCH_PEER_TOKEN": token}, pythonpath=str(BENCH))  # fmt: skip
        targets.append(peer)
    runs: list[Run] = []
    with running(targets, workdir):
        for target in targets:
            if target.name != "hello":
                seed_api(target, args.pool, workdir / f"pool-{target.name}.tsv")
                log(f"{target.name}: {args.pool} users created through POST /Users")
        hello.data_file = scim.data_file  # any ids: hello-world answers every path
        scenarios = [s for s in RUN_ORDER if s in args.scenarios]
        for rnd in range(args.rounds):
            for scenario in scenarios:
                for target in targets:
                    runs.append(load.measured(target, scenario, bulk_ops=args.bulk_ops))
            if args.rounds > 1:
                log(f"round {rnd + 1}/{args.rounds} done")
        out["rss_main"] = scim.rss_mb()
        out["users_main"] = {t.name: t.user_count() for t in targets if t.name != "hello"}
        if args.profile:
            for scenario in scenarios:
                profile(load, scim, scenario, f"sqlite-{scenario}", args.duration,
                        bulk_ops=args.bulk_ops)  # fmt: skip
    out["main"] = runs
    out["targets"] = {t.name: t.label for t in targets}


def phase_large(load: Load, args: argparse.Namespace, workdir: Path, out: dict[str, Any]) -> None:
    from seed import seed_users

    root = workdir / "large"
    db = root / "scim.db"
    scim, admin = scimserver_target(root, f"sqlite:///{db}", "scimserver (large)")
    sizes = [args.small_users] + ([args.large_users] if not args.no_large else [])
    results: list[dict[str, Any]] = []
    try:
        for size in sizes:
            log(f"seeding {size:,} users through the store (bench/seed.py)")
            seconds = seed_users(admin, "bench", str(db), size, log=log)
            entry: dict[str, Any] = {"users": size, "seed_s": seconds,
                                     "db_mb": db.stat().st_size / 2**20, "runs": []}  # fmt: skip
            log(f"seeded to {size:,} in {seconds:.1f} s ({entry['db_mb']:.0f} MB)")
            with running([scim], workdir):
                entry["rss_start"] = scim.rss_mb()
                for scenario in ("filter_seeded", "list"):
                    for clients in (args.clients, 1):
                        entry["runs"].append(
                            load.measured(scim, scenario, clients=clients, seeded=size)
                        )
                scim.data_file = sample_users(db, root / f"sample-{size}.tsv", 2000)
                for scenario in ("get", "patch", "create"):
                    entry["runs"].append(load.measured(scim, scenario))
                entry["rss"] = scim.rss_mb()
                entry["count"] = scim.user_count()
                if args.profile and size == sizes[-1]:
                    for scenario in ("filter_seeded", "list"):
                        profile(load, scim, scenario, f"sqlite-{size // 1000}k-{scenario}",
                                args.duration, seeded=size)  # fmt: skip
            results.append(entry)
    finally:
        admin.close()
    out["large"] = results


def sample_users(db: Path, path: Path, count: int) -> Path:
    """``count`` users spread evenly over the collection, as id<TAB>userName lines."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        total = conn.execute("SELECT max(seq) FROM scim_resources").fetchone()[0] or 1
        step = max(1, total // count)
        rows = conn.execute(
            "SELECT id, unique_key FROM scim_resources WHERE rtype = 'User' AND seq % ? = 0"
            " AND retained_at IS NULL LIMIT ?",
            (step, count),
        ).fetchall()
    path.write_text("".join(f"{i}\t{n}\n" for i, n in rows))
    return path


def phase_postgres(
    load: Load, args: argparse.Namespace, workdir: Path, out: dict[str, Any]
) -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        out["postgres"] = {"skipped": "psycopg is not installed (pip install -e '.[postgres]')"}
        return
    try:
        _postgres_bindir()
    except ServerStartError as exc:
        out["postgres"] = {"skipped": str(exc).splitlines()[0]}
        return
    with postgres_server() as pg:
        url = pg.create_database("bench")
        scim, admin = scimserver_target(workdir / "pg", url, "scimserver (PostgreSQL)")
        admin.close()
        with running([scim], workdir):
            run = load.measured(scim, "bulk", duration=args.pg_duration,
                                bulk_ops=args.pg_bulk_ops, timeout="120s")  # fmt: skip
            entry = {"run": run, "rss": scim.rss_mb()}
            if args.profile:
                entry["profile"] = profile(load, scim, "bulk", "postgres-bulk", args.pg_duration,
                                           bulk_ops=args.pg_bulk_ops, timeout="120s")  # fmt: skip
        out["postgres"] = entry


# ---------------------------------------------------------------------------
# report


def machine() -> dict[str, str]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor())  # fmt: skip
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("[")[0]
    versions = {
        p: importlib.metadata.version(p) for p in ("flask", "gunicorn", "sqlalchemy", "werkzeug")
    }
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "packages": ", ".join(f"{k} {v}" for k, v in versions.items()),
        "wrk": wrk.strip(),
        "git": _git_state(),
    }


def _git_state() -> str:
    """The commit measured, and whether the work tree had changes (read-only git)."""
    try:

        def run(*a: str) -> str:
            done = subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True, timeout=10)
            return done.stdout

        head = run("rev-parse", "--short", "HEAD").strip()
        dirty = run("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    changed = len(dirty.splitlines())
    return f"{head}" + (f" with {changed} modified files" if changed else "")


def _median_runs(runs: list[Run], target: str, scenario: str) -> Run | None:
    mine = [r for r in runs if r.target == target and r.scenario == scenario]
    if not mine:
        return None
    mine.sort(key=lambda r: r.ops)
    return mine[len(mine) // 2]


def _ratio(runs: list[Run], a: str, b: str, scenario: str) -> float | None:
    """Median over rounds of a/b ops, each round's pair measured back to back."""
    xs = [r for r in runs if r.target == a and r.scenario == scenario]
    ys = [r for r in runs if r.target == b and r.scenario == scenario]
    pairs = [x.ops / y.ops for x, y in zip(xs, ys, strict=False) if y.ops]
    return statistics.median(pairs) if pairs else None


LARGE_LABELS = {
    "filter_seeded": "filter userName eq",
    "list": "list count=100",
    "get": "get by id",
    "patch": "PATCH active",
    "create": "create user",
}


def _lat(r: Run, which: str) -> str:
    if not r.requests:
        return f"> {r.duration_s * 1000:,.0f} (none completed)"
    return f"{getattr(r, which + '_ms'):,.2f}"


def _fmt(x: float | None, spec: str = ".2f", suffix: str = "") -> str:
    return "-" if x is None else f"{x:{spec}}{suffix}"


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("**yes**" if ok else "**no**")


def report(out: dict[str, Any], args: argparse.Namespace, started: datetime) -> str:
    facts = out["machine"]
    runs: list[Run] = out.get("main", [])
    names = out.get("targets", {})
    lines = ["# Benchmark results", ""]
    lines.append(
        f"Written by `bench/run.py` on {started:%Y-%m-%d %H:%M} UTC "
        f"(took {out['elapsed_s'] / 60:.1f} min). Command:"
    )
    lines += ["", "```", out["command"], "```", ""]
    lines.append(
        f"Machine: {facts['nproc']} CPUs ({facts['cpu']}), {facts['memory']}, Linux "
        f"{facts['kernel']}; Python {facts['python']}, SQLite {facts['sqlite']}; "
        f"{facts['packages']}; {facts['wrk']}. Code: {facts['git']}. "
        f"Load average at start {out['load_start']}, "
        f"at end {out['load_end']} (other work shares this machine: compare the ratios, "
        f"whose two sides ran back to back, rather than absolute figures)."
    )
    lines.append("")
    lines.append(
        f"Every target: `gunicorn -c config/gunicorn.conf.py -w 1 -k gthread --threads 8 "
        f"--max-requests 0 --no-control-socket APP` on 127.0.0.1 (access log on, as in "
        f"production). Load: wrk, {args.clients} connections on {args.wrk_threads} threads, "
        f"{args.warmup:g} s warm-up then {args.duration:g} s per run, {args.rounds} round(s); "
        f"scenario by scenario, the targets back to back; medians over rounds. "
        f"Each SCIM target first gets {args.pool:,} users through POST /Users (get, filter "
        f"and PATCH pick among them); Bulk requests carry {args.bulk_ops} creates. The "
        f"hello-world answers the very same requests (same method, path and body)."
    )
    lines.append("")
    if runs:
        lines += ["## Throughput and latency, SQLite, 1 worker x 8 threads", ""]
        for target, label in names.items():
            lines += [f"### {label}", ""]
            lines.append("| scenario | ops/s | req/s | p50 ms | p99 ms | errors | check |")
            lines.append("|---|---:|---:|---:|---:|---:|---|")
            for scenario in SCENARIOS:
                r = _median_runs(runs, target, scenario)
                if r is None:
                    continue
                lines.append(
                    f"| {LABELS[scenario]} | {r.ops:,.0f} | {r.rps:,.1f} | {_lat(r, 'p50')} | "
                    f"{_lat(r, 'p99')} | {r.error_count} | {r.verified} |"
                )
            lines.append("")
        lines += ["### Ratios and targets (issue 6)", ""]
        lines.append("| scenario | scimserver / hello | target | holds | scimserver / scim2-server "
                     "| target | holds |")  # fmt: skip
        lines.append("|---|---:|---:|---|---:|---:|---|")
        for scenario in SCENARIOS:
            if _median_runs(runs, "scimserver", scenario) is None:
                continue
            # hello-world neither parses nor stores a Bulk body: no meaningful ratio
            vs_hello = None if scenario == "bulk" else _ratio(runs, "scimserver", "hello", scenario)
            vs_peer = _ratio(runs, "scimserver", "peer", scenario)
            want = TARGET_VS_HELLO.get(scenario)
            ok_hello = None if want is None or vs_hello is None else vs_hello >= want
            ok_peer = None if vs_peer is None or scenario == "bulk" else vs_peer >= TARGET_VS_PEER
            lines.append(
                f"| {LABELS[scenario]} | {_fmt(vs_hello, '.2f', 'x')} | {_fmt(want, '.2f', 'x')} | "
                f"{_verdict(ok_hello)} | {_fmt(vs_peer, '.2f', 'x')} | "
                f"{'-' if scenario == 'bulk' else '2.00x'} | {_verdict(ok_peer)} |"
            )
        lines.append("")
        rss, hwm = out["rss_main"]
        counts = ", ".join(f"{k} {v:,}" for k, v in out["users_main"].items())
        lines.append(
            f"Users at the end: {counts}. scimserver worker RSS after this phase: "
            f"{rss:.0f} MB (peak {hwm:.0f} MB)."
        )
        lines.append("")
    if "large" in out:
        lines += ["## Large collections, SQLite (seeded through the store)", ""]
        lines.append(
            "filter picks a random seeded userName, list asks for the first page; get, PATCH "
            "and create use 2,000 users spread over the whole collection."
        )
        lines.append("")
        lines.append("| users | scenario | clients | ops/s | p50 ms | p99 ms | errors |")
        lines.append("|---:|---|---:|---:|---:|---:|---:|")
        for entry in out["large"]:
            for r in entry["runs"]:
                lines.append(
                    f"| {entry['users']:,} | {LARGE_LABELS[r.scenario]} | {r.clients} | "
                    f"{r.ops:,.1f} | {_lat(r, 'p50')} | {_lat(r, 'p99')} | {r.error_count} |"
                )
        lines.append("")
        lines.append("| users | seeding this step | DB file | worker RSS at start | after (peak) |")
        lines.append("|---:|---:|---:|---:|---:|")
        for e in out["large"]:
            lines.append(
                f"| {e['users']:,} | {e['seed_s']:.0f} s | {e['db_mb']:,.0f} MB | "
                f"{e['rss_start'][0]:.0f} MB | {e['rss'][0]:.0f} MB ({e['rss'][1]:.0f} MB) |"
            )
        lines.append("")
        large = out["large"]
        if len(large) == 2:
            small, big = large
            added = big["users"] - small["users"]
            lines.append(
                f"Seeding {added:,} users on top of {small['users']:,} took "
                f"{big['seed_s']:.0f} s ({added / big['seed_s']:,.0f} users/s), so `--large` "
                f"is on by default."
            )
            lines += ["", "| latency at 1M / at 10k | clients | p50 | p99 | target | holds |",
                      "|---|---:|---:|---:|---:|---|"]  # fmt: skip
            for a, b in zip(small["runs"], big["runs"], strict=True):
                targeted = a.scenario in ("filter_seeded", "list")
                if a.requests and b.requests:
                    r50, r99 = b.p50_ms / a.p50_ms, b.p99_ms / a.p99_ms
                    ok = r50 <= TARGET_LARGE
                    shown = f"{r50:.2f}x | {r99:.2f}x"
                else:
                    ok, shown = False, "none completed | -"
                lines.append(
                    f"| {LARGE_LABELS[a.scenario]} | {a.clients} | {shown} | "
                    f"{f'<= {TARGET_LARGE}x (p50)' if targeted else '-'} | "
                    f"{_verdict(ok) if targeted else '-'} |"
                )
            rss, hwm = big["rss"]
            lines += ["", f"Worker RSS at {big['users']:,} users after all the runs above: "
                      f"{rss:.0f} MB, peak {hwm:.0f} MB; target < {TARGET_RSS_MB} MB: "
                      f"{_verdict(hwm < TARGET_RSS_MB)}."]  # fmt: skip
        else:
            lines.append("(1,000,000 users not run: --no-large or --quick.)")
        lines.append("")
    pg = out.get("postgres")
    if pg:
        lines += ["## Bulk import, PostgreSQL (ephemeral, fsync off), 1 worker x 8 threads", ""]
        if "skipped" in pg:
            lines.append(f"Skipped: {pg['skipped']}.")
        else:
            r: Run = pg["run"]
            rss, hwm = pg["rss"]
            lines.append("| ops per Bulk | clients | Bulk req/s | users/s | p50 ms | p99 ms | "
                         "errors | check | target | holds |")  # fmt: skip
            lines.append("|---:|---:|---:|---:|---:|---:|---:|---|---:|---|")
            lines.append(
                f"| {r.ops_per_request} | {r.clients} | {r.rps:.2f} | {r.ops:,.0f} | "
                f"{_lat(r, 'p50')} | {_lat(r, 'p99')} | {r.error_count} | {r.verified} | "
                f">= {TARGET_PG_BULK:,} | {_verdict(r.ops >= TARGET_PG_BULK)} |"
            )
            lines += ["", f"Worker RSS after the import: {rss:.0f} MB (peak {hwm:.0f} MB)."]
        lines.append("")
    if args.profile:
        files = sorted(p.name for p in PROFILES.glob("*.txt"))
        lines += ["## Profiles", "", "py-spy summaries (inclusive and self samples per "
                  "file:line, request threads only; `gil` and `cpu` views) in bench/profiles/: "
                  + ", ".join(files) + "."]  # fmt: skip
        lines.append("")
    lines.append(
        "Why the missed targets are missed, with the profiles and the fixes they point to: "
        "[ANALYSIS.md](ANALYSIS.md) (written by hand for the run it names)."
    )
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per run")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the main table")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--pool", type=int, default=1000, help="users made before the runs")
    parser.add_argument("--bulk-ops", type=int, default=100, help="creates per Bulk (main)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--no-main", action="store_true", help="skip the three-target table")
    parser.add_argument("--small-users", type=int, default=10_000)
    parser.add_argument("--large-users", type=int, default=1_000_000)
    parser.add_argument("--large", dest="no_large", action="store_false",
                        help="also seed and measure 1M users (default)")  # fmt: skip
    parser.add_argument("--no-large", dest="no_large", action="store_true",
                        help="skip 1M users; 10k still measured")  # fmt: skip
    parser.add_argument("--no-scale", action="store_true", help="skip 10k/1M entirely")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--pg-bulk-ops", type=int, default=1000)
    parser.add_argument("--pg-duration", type=int, default=20)
    parser.add_argument("--profile", action="store_true", help="py-spy profiles of scimserver")
    parser.add_argument("--quick", action="store_true",
                        help="3 s runs, 1 s warm-up, no 1M users, 10 s PostgreSQL")  # fmt: skip
    parser.add_argument("--output", type=Path, default=BENCH / "RESULTS.md")
    parser.set_defaults(no_large=False)
    args = parser.parse_args()
    if args.quick:
        args.duration, args.warmup, args.no_large, args.pg_duration = 3, 1, True, 10
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]

    started = datetime.now(UTC)
    t0 = time.monotonic()
    wrk = ensure_wrk()
    out: dict[str, Any] = {
        "machine": machine(),
        "command": " ".join([".venv/bin/python", "bench/run.py", *sys.argv[1:]]),
        "load_start": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }
    load = Load(wrk, args)
    workdir = Path(tempfile.mkdtemp(prefix="scimserver-bench-"))
    try:
        if not args.no_main:
            phase_main(load, args, workdir, out)
        if not args.no_scale:
            phase_large(load, args, workdir, out)
        if not args.no_postgres:
            phase_postgres(load, args, workdir, out)
    finally:
        out["load_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        out["elapsed_s"] = time.monotonic() - t0
        if out.get("main") or out.get("large") or out.get("postgres"):
            args.output.write_text(report(out, args, started))
            log(f"wrote {args.output}")
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
