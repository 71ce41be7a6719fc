"""Bound ldap3 connections, pooled, and what an unreachable directory looks like.

A connection serves one thread at a time (ldap3's SYNC strategy). Idle ones are
kept, up to ``pool_size``; a thread that finds none opens another. When one fails
on the network, every idle one is dropped too (after a directory restart they are
all dead), and the store retries the call once on a fresh connection if nothing
had been written yet. Otherwise the caller gets ``errors.Unavailable`` (503 with
Retry-After); the next request connects again by itself.
"""

from __future__ import annotations

import logging
import math
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import ldap3
import ldap3.core.results
from ldap3.core.exceptions import (
    LDAPBindError,
    LDAPCommunicationError,
    LDAPException,
    LDAPResponseTimeoutError,
    LDAPSocketOpenError,
    LDAPStartTLSError,
)

from scimserver.protocol import errors

from .config import LdapConfig

log = logging.getLogger(__name__)

# OpenLDAP answers a VLV window past the end with 76 (virtualListViewError),
# which ldap3 2.9 does not know and would fail to decode.
ldap3.core.results.RESULT_CODES.setdefault(76, "virtualListViewError")

SUCCESS = 0
SIZE_LIMIT = 4
NO_SUCH_ATTRIBUTE = 16
CONSTRAINT = 19
VALUE_EXISTS = 20
INVALID_SYNTAX = 21
NO_SUCH_OBJECT = 32
BUSY = 51
UNAVAILABLE = 52
UNWILLING = 53
OBJECT_CLASS = 65
ALREADY_EXISTS = 68
VLV_ERROR = 76
ASSERTION_FAILED = 122

# Raised by the network layer when the directory is down or unreachable.
NETWORK_ERRORS = (
    LDAPCommunicationError,
    LDAPResponseTimeoutError,
    LDAPSocketOpenError,
    LDAPStartTLSError,
    OSError,
)


class DirectoryDown(Exception):
    """The directory did not answer, or answered that it is unavailable."""


@dataclass
class Entry:
    dn: str
    attrs: dict[str, list[bytes]]  # lowercased attribute name -> raw values
    controls: dict[str, bytes] = field(default_factory=dict)  # response controls (deref)

    def first(self, name: str) -> str | None:
        values = self.attrs.get(name.lower())
        return values[0].decode() if values else None

    def texts(self, name: str) -> list[str]:
        return [v.decode() for v in self.attrs.get(name.lower(), ())]


@dataclass
class Answer:
    code: int
    message: str
    entries: list[Entry] = field(default_factory=list)
    controls: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.code == SUCCESS


def _entries(response: list[dict[str, Any]] | None) -> list[Entry]:
    out = []
    for item in response or ():
        if item.get("type") != "searchResEntry":
            continue
        raw = item.get("raw_attributes") or {}
        attrs = {name.lower(): [bytes(v) for v in values] for name, values in raw.items()}
        controls = {
            oid: bytes(control["value"])
            for oid, control in (item.get("controls") or {}).items()
            if isinstance(control.get("value"), bytes | bytearray)
        }
        out.append(Entry(item["dn"], attrs, controls))
    return out


class Session:
    """One borrowed connection; remembers whether anything was written on it."""

    def __init__(self, conn: ldap3.Connection) -> None:
        self.conn = conn
        self.wrote = False

    def _answer(self, ok: Any, entries: bool = False) -> Answer:
        result = self.conn.result or {}
        code = int(result.get("result", 80))
        if code == UNAVAILABLE:
            raise DirectoryDown(result.get("message") or "the directory is unavailable")
        return Answer(
            code,
            str(result.get("message") or result.get("description") or ""),
            _entries(self.conn.response) if entries else [],
            result.get("controls") or {},
            result,
        )

    def search(
        self,
        base: str,
        flt: str,
        *,
        scope: str = ldap3.LEVEL,
        attributes: list[str] | None = None,
        controls: list[Any] | None = None,
        size_limit: int = 0,
        paged: int | None = None,
        cookie: bytes | None = None,
    ) -> Answer:
        ok = self.conn.search(
            base,
            flt,
            search_scope=scope,
            attributes=attributes or ["1.1"],
            controls=controls,
            size_limit=size_limit,
            paged_size=paged,
            paged_cookie=cookie,
        )
        return self._answer(ok, entries=True)

    def search_all(
        self,
        base: str,
        flt: str,
        *,
        scope: str = ldap3.LEVEL,
        attributes: list[str],
        controls: list[Any] | None = None,
    ) -> Answer:
        """Every match, a page of the paged-results control at a time (RFC 2696)."""
        entries: list[Entry] = []
        cookie: bytes | None = None
        while True:
            answer = self.search(
                base,
                flt,
                scope=scope,
                attributes=attributes,
                controls=controls,
                paged=500,
                cookie=cookie,
            )
            if not answer.ok:
                return answer
            entries += answer.entries
            paged = answer.controls.get("1.2.840.113556.1.4.319", {}).get("value") or {}
            cookie = paged.get("cookie")
            if not cookie:
                answer.entries = entries
                return answer

    def add(self, dn: str, attributes: dict[str, Any]) -> Answer:
        self.wrote = True
        return self._answer(self.conn.add(dn, attributes=attributes))

    def modify(self, dn: str, changes: dict[str, Any], controls: list[Any] | None = None) -> Answer:
        self.wrote = True
        return self._answer(self.conn.modify(dn, changes, controls=controls))

    def delete(self, dn: str, controls: list[Any] | None = None) -> Answer:
        self.wrote = True
        return self._answer(self.conn.delete(dn, controls=controls))


class Pool:
    def __init__(self, config: LdapConfig) -> None:
        self.config = config
        tls = None
        if config.url.lower().startswith("ldaps://") or config.start_tls:
            tls = ldap3.Tls(
                validate=ssl.CERT_REQUIRED if config.verify else ssl.CERT_NONE,
                ca_certs_file=config.ca_file,
            )
        self._tls = tls
        self._idle: list[ldap3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def open(self) -> ldap3.Connection:
        """A new bound connection (StartTLS first when configured)."""
        config = self.config
        # A Server of its own each time: ldap3 marks an address that failed once as
        # unavailable for a while, which would delay reconnecting after an outage.
        server = ldap3.Server(
            config.url, connect_timeout=config.connect_timeout, get_info=ldap3.NONE, tls=self._tls
        )
        conn = ldap3.Connection(
            server,
            user=config.bind_dn or None,
            password=config.password or None,
            client_strategy=ldap3.SYNC,
            raise_exceptions=False,
            receive_timeout=max(1, math.ceil(config.timeout)),  # ldap3 packs it as an int
            auto_referrals=False,
            check_names=False,
            return_empty_attributes=False,
        )
        try:
            conn.open()
            if config.start_tls and not conn.start_tls():
                raise DirectoryDown(f"StartTLS failed: {conn.result}")
            if not conn.bind():
                code = (conn.result or {}).get("result")
                raise DirectoryDown(f"bind as {config.bind_dn!r} failed ({code}): {conn.result}")
        except BaseException:
            self._close(conn)
            raise
        return conn

    @staticmethod
    def _close(conn: ldap3.Connection) -> None:
        with suppress(LDAPException, OSError):
            conn.unbind()

    @contextmanager
    def session(self) -> Iterator[tuple[Session, bool]]:
        """A session and whether its connection came from the pool (may be stale)."""
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        pooled = conn is not None
        if conn is None:
            conn = self.open()
        session = Session(conn)
        try:
            yield session, pooled
        except (DirectoryDown, *NETWORK_ERRORS, LDAPBindError):
            self._close(conn)
            self.drain()
            raise
        except BaseException:
            self._give_back(conn)
            raise
        else:
            self._give_back(conn)

    def _give_back(self, conn: ldap3.Connection) -> None:
        with self._lock:
            if not self._closed and not conn.closed and len(self._idle) < self.config.pool_size:
                self._idle.append(conn)
                return
        self._close(conn)

    def drain(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            self._close(conn)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self.drain()

    @contextmanager
    def throwaway(self) -> Iterator[Session]:
        """A connection of its own, closed after use: slapo-sssvlv frees a virtual list
        view's sorted result only when its connection closes."""
        conn = self.open()
        try:
            yield Session(conn)
        finally:
            self._close(conn)


def unavailable(config: LdapConfig, exc: BaseException) -> errors.Unavailable:
    log.warning("LDAP store: %s is unavailable: %s", config.url, exc)
    return errors.Unavailable(
        f"The directory is unavailable: {exc}".rstrip(": "), retry_after=config.retry_after
    )
