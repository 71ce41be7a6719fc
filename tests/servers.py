"""Ephemeral PostgreSQL, Redis and OpenLDAP servers for integration tests.

Each context manager starts a real server as a foreground child process on a
free 127.0.0.1 port, with all state in a fresh temporary directory, waits
until it answers a real request, and on exit stops it and removes the
directory. Nothing here touches system services on the standard ports.

    with postgres_server() as pg:
        url = pg.create_database("scim")   # SQLAlchemy URL
    with redis_server() as redis:
        redis.stop(); redis.start()         # simulate an outage
    with slapd_server() as ldap:
        ldap.url, ldap.bind_dn, ldap.password, ldap.base_dn

The Debian packages are installed by tests/install-debian-deps.sh. The Python
clients are imported lazily: psycopg (v3) is needed only for PostgreSQL, and
ldap3 is used for slapd only when ldap-utils is missing.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = [
    "GunicornServer",
    "PostgresServer",
    "RedisServer",
    "ServerStartError",
    "SlapdServer",
    "free_port",
    "gunicorn_server",
    "postgres_server",
    "redis_server",
    "slapd_server",
]

HOST = "127.0.0.1"
STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
# Start-up is retried on a new port if another process took ours after
# free_port() returned it (unavoidable race, e.g. under pytest-xdist).
PORT_ATTEMPTS = 3
_TAIL_BYTES = 4000


class ServerStartError(RuntimeError):
    """A server did not come up; the message includes its output tail."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(
            f"{message}\n--- server output (tail) ---\n{output}" if output else message
        )
        self.output = output

    @property
    def port_in_use(self) -> bool:
        # Same wording from postgres, redis and slapd (strerror(EADDRINUSE)).
        return "Address already in use" in self.output


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _pdeathsig(sig: signal.Signals) -> Callable[[], None] | None:
    """Build a preexec_fn so the child gets `sig` if the test process dies.

    The context managers stop servers on any normal or exceptional exit; this
    covers the rest (pytest SIGKILLed by a CI timeout). Linux-only. Note the
    signal fires when the *thread* that started the server exits, so start
    servers from the main thread (pytest fixtures are). The libc lookup is done
    here, in the parent, so the child runs no more Python than one call.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, int(sig), 0, 0, 0)

    return preexec


@dataclass
class _RunAs:
    """A system user to drop to (only when we are root)."""

    name: str
    uid: int
    gid: int

    @classmethod
    def lookup(cls, name: str) -> _RunAs:
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            raise ServerStartError(
                f"running as root but there is no {name!r} user to run the server as"
            ) from None
        return cls(name, pw.pw_uid, pw.pw_gid)

    def popen_kwargs(self) -> dict[str, Any]:
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


class _Process:
    """One server child process: start, wait until ready, stop, never leak.

    stdout and stderr go to a log file rather than a pipe, so a chatty server
    can never block on a full pipe buffer, and restarts append to the same log.
    """

    def __init__(
        self,
        name: str,
        log_path: Path,
        *,
        stop_signal: signal.Signals,
        death_signal: signal.Signals = signal.SIGKILL,
        run_as: _RunAs | None = None,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self.stop_signal = stop_signal
        self.death_signal = death_signal
        self.run_as = run_as
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self.popen: subprocess.Popen[bytes] | None = None
        self._log_start = 0

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def _spawn(self, argv: Sequence[str], log: IO[bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.cwd,
            env=self.env,
            # Own session: a terminal Ctrl-C reaches only pytest, which then
            # stops the server in order via the context manager.
            start_new_session=True,
            preexec_fn=_pdeathsig(self.death_signal),
            **(self.run_as.popen_kwargs() if self.run_as else {}),
        )

    def run(self, argv: Sequence[str], timeout: float = STARTUP_TIMEOUT) -> None:
        """Run a one-off command (e.g. initdb) to completion, logging its output."""
        with self.log_path.open("ab") as log:
            start = log.tell()
            proc = self._spawn(argv, log)
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise ServerStartError(
                f"{argv[0]} did not finish within {timeout:.0f}s", self.tail(start)
            ) from None
        if rc != 0:
            raise ServerStartError(f"{argv[0]} failed with exit status {rc}", self.tail(start))

    def start(
        self, argv: Sequence[str], ready: Callable[[], bool], timeout: float = STARTUP_TIMEOUT
    ) -> None:
        """Start the server and block until `ready()` is true; kill it on failure."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        with self.log_path.open("ab") as log:
            self._log_start = log.tell()
            self.popen = self._spawn(argv, log)
        deadline = time.monotonic() + timeout
        try:
            while True:
                rc = self.popen.poll()
                if rc is not None:
                    raise ServerStartError(
                        f"{self.name} exited with status {rc} during start-up", self.tail()
                    )
                if ready():
                    return
                if time.monotonic() > deadline:
                    raise ServerStartError(
                        f"{self.name} was not ready within {timeout:.0f}s", self.tail()
                    )
                time.sleep(0.05)
        except BaseException:
            # Includes KeyboardInterrupt: never leave a half-started server.
            self.kill()
            raise

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Ask the server to shut down; SIGKILL it if it takes too long."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            with suppress(ProcessLookupError):
                self.popen.send_signal(self.stop_signal)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.popen = None

    def kill(self) -> None:
        if self.popen is None:
            return
        with suppress(ProcessLookupError):
            self.popen.kill()
        self.popen.wait()
        self.popen = None

    def tail(self, start: int | None = None) -> str:
        """Output of the current (or given) run, last few KB."""
        start = self._log_start if start is None else start
        try:
            with self.log_path.open("rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(start, f.tell() - _TAIL_BYTES))
                return f.read().decode(errors="replace")
        except OSError as exc:
            return f"<cannot read {self.log_path}: {exc}>"


def _start_on_free_port(server: _Server) -> None:
    """First start, moving to a new port if ours was taken in the meantime."""
    for attempt in range(PORT_ATTEMPTS):
        try:
            server.start()
            return
        except ServerStartError as exc:
            if not exc.port_in_use or attempt == PORT_ATTEMPTS - 1:
                raise
            server.port = free_port()


def _make_tempdir(prefix: str, owner: _RunAs | None = None) -> Path:
    # Unix socket paths are limited to 107 bytes and the postgres user must be
    # able to reach the directory: fall back to /tmp for a long or private
    # TMPDIR (e.g. under /root).
    root = tempfile.gettempdir()
    if owner is not None or len(root) > 40:
        root = "/tmp"
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    if owner is not None:
        os.chown(path, owner.uid, owner.gid)
    return path


class _Server:
    """Common stop()/start() surface; subclasses provide argv and readiness."""

    port: int
    _proc: _Process

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    def start(self) -> None:
        """(Re)start on the same port, e.g. after stop() in an outage test."""
        self._proc.start(self._argv(), self._ready)

    def stop(self) -> None:
        """Shut the server down cleanly; its data directory is kept for start()."""
        self._proc.stop()

    @property
    def running(self) -> bool:
        return self._proc.running

    @property
    def log_path(self) -> Path:
        return self._proc.log_path


# --------------------------------------------------------------------------
# PostgreSQL


def _postgres_bindir() -> Path:
    """Newest /usr/lib/postgresql/<version>/bin (Debian does not put it on PATH)."""
    base = Path("/usr/lib/postgresql")
    versions = sorted(
        (p for p in base.glob("*") if (p / "bin" / "postgres").exists() and p.name.isdigit()),
        key=lambda p: int(p.name),
    )
    if not versions:
        raise ServerStartError(
            f"no PostgreSQL server under {base}; run tests/install-debian-deps.sh"
        )
    return versions[-1] / "bin"


@dataclass(eq=False)
class PostgresServer(_Server):
    host: str
    port: int
    user: str
    socket_dir: Path
    data_dir: Path
    _proc: _Process = field(repr=False)
    _bindir: Path = field(repr=False)
    _settings: dict[str, str] = field(repr=False)

    def _argv(self) -> list[str]:
        argv = [str(self._bindir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        argv += ["-k", str(self.socket_dir), "-c", f"listen_addresses={self.host}"]
        for key, value in self._settings.items():
            argv += ["-c", f"{key}={value}"]
        return argv

    def _ready(self) -> bool:
        import psycopg

        try:
            # Refused while the port is closed; "starting up" error until ready.
            with psycopg.connect(**self._connect_args("postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def _connect_args(self, dbname: str) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "user": self.user, "dbname": dbname}

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL (psycopg 3 driver) for a database on this server."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """Create database `name` and return its SQLAlchemy URL."""
        import psycopg
        from psycopg import sql

        # CREATE DATABASE cannot run inside a transaction.
        with psycopg.connect(**self._connect_args("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)


@contextmanager
def postgres_server(settings: Mapping[str, str] | None = None) -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster (trust auth, superuser `postgres`).

    `settings` are extra `-c name=value` server options, overriding the
    speed-over-durability defaults below.
    """
    bindir = _postgres_bindir()
    # initdb and postgres refuse to run as root.
    run_as = _RunAs.lookup("postgres") if os.geteuid() == 0 else None
    user = "postgres"  # database superuser name, from initdb -U
    tmp = _make_tempdir("pg-", run_as)
    # Don't let the caller's PG* variables (PGDATA, PGPORT...) leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C.UTF-8"
    proc = _Process(
        "postgres",
        tmp / "postgres.log",
        stop_signal=signal.SIGINT,  # "fast" shutdown: disconnect clients, exit
        death_signal=signal.SIGQUIT,  # immediate shutdown, still frees shared memory
        run_as=run_as,
        cwd=tmp,  # the postgres user may not be able to read our cwd
        env=env,
    )
    server = PostgresServer(
        host=HOST,
        port=free_port(),
        user=user,
        socket_dir=tmp / "s",
        data_dir=tmp / "data",
        _proc=proc,
        _bindir=bindir,
        _settings={
            "max_connections": "200",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            **(settings or {}),
        },
    )
    try:
        server.socket_dir.mkdir()
        if run_as is not None:
            os.chown(server.socket_dir, run_as.uid, run_as.gid)
        proc.run([str(bindir / "initdb"), "-D", str(server.data_dir), "-A", "trust", "-U", user,
                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])  # fmt: skip
        _start_on_free_port(server)
        yield server
    finally:
        proc.stop()
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------
# Redis


@dataclass(eq=False)
class RedisServer(_Server):
    host: str
    port: int
    dir: Path
    _proc: _Process = field(repr=False)

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def _argv(self) -> list[str]:
        return ["redis-server", "--port", str(self.port), "--bind", self.host, "--save", "",
                "--appendonly", "no", "--daemonize", "no", "--dir", str(self.dir)]  # fmt: skip

    def _ready(self) -> bool:
        # Raw RESP so the fixture doesn't need redis-py; "-LOADING" means not yet.
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    """A throwaway in-memory Redis (no persistence)."""
    if shutil.which("redis-server") is None:
        raise ServerStartError("redis-server not found; run tests/install-debian-deps.sh")
    tmp = _make_tempdir("redis-")
    proc = _Process("redis-server", tmp / "redis.log", stop_signal=signal.SIGTERM, cwd=tmp)
    server = RedisServer(host=HOST, port=free_port(), dir=tmp, _proc=proc)
    try:
        _start_on_free_port(server)
        yield server
    finally:
        proc.stop()
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------
# OpenLDAP

SLAPD_SCHEMA_DIR = Path("/etc/ldap/schema")
SLAPD_MODULE_DIR = Path("/usr/lib/ldap")
_BASE_SCHEMAS = ("core", "cosine", "inetorgperson", "nis")


def _q(value: object) -> str:
    """Quote a slapd.conf argument (paths may contain spaces)."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(eq=False)
class SlapdServer(_Server):
    host: str
    port: int
    base_dn: str
    bind_dn: str
    password: str
    config_path: Path
    _proc: _Process = field(repr=False)
    _base_created: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"ldap://{self.host}:{self.port}"

    def _argv(self) -> list[str]:
        # -d none: stay in the foreground and print errors (with -d 0 a config
        # error makes slapd exit silently).
        return ["slapd", "-f", str(self.config_path), "-h", f"{self.url}/", "-d", "none"]

    def _ready(self) -> bool:
        # slapd listens before it has read its config, so a TCP connect proves
        # nothing: ask for the root DSE.
        if shutil.which("ldapsearch"):
            return self._ldap_tool(["ldapsearch", "-H", self.url, "-x", "-b", "", "-s", "base",
                                    "-o", "nettimeout=2", "1.1"])  # fmt: skip
        import ldap3
        from ldap3.core.exceptions import LDAPException

        try:
            with ldap3.Connection(
                ldap3.Server(self.url, connect_timeout=2), receive_timeout=2, auto_bind=True
            ) as conn:
                return bool(conn.search("", "(objectClass=*)", search_scope=ldap3.BASE))
        except LDAPException:
            return False

    def _ldap_tool(self, argv: list[str], stdin: bytes = b"") -> bool:
        # LDAPNOINIT: ignore the machine's ldap.conf and ~/.ldaprc.
        env = {**os.environ, "LDAPNOINIT": "1"}
        try:
            res = subprocess.run(argv, input=stdin, capture_output=True, env=env, timeout=5)
        except subprocess.TimeoutExpired:
            return False
        return res.returncode == 0

    def _create_base(self) -> None:
        if shutil.which("ldapadd"):
            ldif = (f"dn: {self.base_dn}\nobjectClass: dcObject\nobjectClass: organization\n"
                    "dc: example\no: Example\n")  # fmt: skip
            argv = ["ldapadd", "-H", self.url, "-x", "-D", self.bind_dn, "-w", self.password]
            ok = self._ldap_tool(argv, ldif.encode())
        else:
            import ldap3

            with ldap3.Connection(self.url, self.bind_dn, self.password, auto_bind=True) as conn:
                ok = conn.add(
                    self.base_dn, ["dcObject", "organization"], {"dc": "example", "o": "Example"}
                )
        if not ok:
            raise ServerStartError(f"could not create base entry {self.base_dn}", self._proc.tail())

    def start(self) -> None:
        super().start()
        if not self._base_created:  # the database persists across stop()/start()
            try:
                self._create_base()
            except BaseException:
                self._proc.kill()
                raise
            self._base_created = True


@contextmanager
def slapd_server(
    extra_schema_files: Sequence[Path] = (),
    overlays: Mapping[str, Sequence[str]] | None = None,
    extra_config: Sequence[str] = (),
) -> Iterator[SlapdServer]:
    """A throwaway OpenLDAP server with an mdb database for dc=example,dc=com.

    `overlays` maps overlay module names to the config lines that follow its
    `overlay` directive, in order, e.g.
    ``{"memberof": [], "refint": ["refint_attributes member"]}``.
    `extra_config` lines go into the database section (indexes, ACLs, limits).
    """
    if shutil.which("slapd") is None:
        raise ServerStartError("slapd not found; run tests/install-debian-deps.sh")
    overlays = dict(overlays or {})
    tmp = _make_tempdir("slapd-")
    db_dir = tmp / "db"
    db_dir.mkdir()
    base_dn = "dc=example,dc=com"
    lines = [f"include {_q(SLAPD_SCHEMA_DIR / f'{name}.schema')}" for name in _BASE_SCHEMAS]
    lines += [f"include {_q(Path(path).resolve())}" for path in extra_schema_files]
    lines += [
        f"pidfile {_q(tmp / 'slapd.pid')}",  # default would be under /var/run
        f"argsfile {_q(tmp / 'slapd.args')}",
        f"modulepath {_q(SLAPD_MODULE_DIR)}",
        "moduleload back_mdb",
        *(f"moduleload {name}" for name in overlays),
        "database mdb",
        f"suffix {_q(base_dn)}",
        f"rootdn {_q('cn=admin,' + base_dn)}",
        "rootpw secret",
        f"directory {_q(db_dir)}",
        "maxsize 1073741824",
        "dbnosync",
        "index objectClass eq",
        *extra_config,
    ]
    for name, overlay_lines in overlays.items():
        lines += [f"overlay {name}", *overlay_lines]
    config_path = tmp / "slapd.conf"
    config_path.write_text("\n".join(lines) + "\n")

    proc = _Process("slapd", tmp / "slapd.log", stop_signal=signal.SIGTERM, cwd=tmp)
    server = SlapdServer(
        host=HOST,
        port=free_port(),
        base_dn=base_dn,
        bind_dn=f"cn=admin,{base_dn}",
        password="secret",
        config_path=config_path,
        _proc=proc,
    )
    try:
        _start_on_free_port(server)
        yield server
    finally:
        proc.stop()
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------
# The project's own server under gunicorn, as production runs it

REPO = Path(__file__).resolve().parent.parent


@dataclass
class GunicornServer(_Server):
    host: str
    port: int
    workers: int
    _proc: _Process = field(repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/scim/v2"

    def _argv(self) -> list[str]:
        return [sys.executable, "-m", "gunicorn", "-w", str(self.workers), "-k", "gthread",
                "--threads", "8", "-b", f"{self.host}:{self.port}", "wsgi:app"]  # fmt: skip

    def _ready(self) -> bool:
        # Any HTTP answer (401 without a token) means a worker has booted.
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as s:
                s.sendall(b"GET /scim/v2/ServiceProviderConfig HTTP/1.0\r\n\r\n")
                return s.recv(16).startswith(b"HTTP/1.")
        except OSError:
            return False


@contextmanager
def gunicorn_server(config_path: Path, workers: int = 2) -> Iterator[GunicornServer]:
    """``gunicorn wsgi:app`` from the repository, on ``config_path``."""
    tmp = _make_tempdir("gunicorn-")
    env = {**os.environ, "SCIMSERVER_CONFIG": str(config_path)}
    proc = _Process("gunicorn", tmp / "gunicorn.log", stop_signal=signal.SIGTERM, cwd=REPO, env=env)
    server = GunicornServer(host=HOST, port=free_port(), workers=workers, _proc=proc)
    try:
        _start_on_free_port(server)
        yield server
    finally:
        proc.stop()
        shutil.rmtree(tmp, ignore_errors=True)
