"""Key layout of the Redis store (no redis-py needed here).

Every key of one organization carries the organization as a Redis Cluster hash
tag, ``<prefix>{<org>}:<name>``, so all of them live in one slot and every
script may declare all of them. There is a fixed set of keys per organization
(``NAMES``); resources are fields and members of those keys, never keys of
their own, so a script always knows every key it touches up front.
"""

from __future__ import annotations

SEP = "\x00"  # ends every escaped value inside a sorted-set member

# The order is the scripts' KEYS order (see scripts.py): four shared keys, then
# seven per resource type, Users first.
SHARED = ("seq", "rel", "rrel", "G:disp")
PER_TYPE = ("docs", "uniq", "all", "live", "ret", "names", "ix")
NAMES: tuple[str, ...] = (
    *SHARED,
    *(f"U:{n}" for n in PER_TYPE),
    *(f"G:{n}" for n in PER_TYPE),
)
TYPE_CODE = {"User": "U", "Group": "G"}
TYPE_NAME = {"U": "User", "G": "Group"}

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")


def org_tag(org: str) -> str:
    """The hash tag for an organization id: the id itself when it is plain ASCII
    without braces, else ``~`` and its UTF-8 in hex (``~`` never starts a plain id)."""
    if org and all(c in _SAFE for c in org):
        return org
    return "~" + org.encode().hex()


def org_keys(prefix: str, org: str) -> list[str]:
    """Every key of one organization, in the scripts' KEYS order."""
    base = f"{prefix}{{{org_tag(org)}}}:"
    return [base + name for name in NAMES]


def escape(value: str) -> str:
    """``value`` made free of NUL, keeping codepoint order and prefixes.

    NUL becomes ``\\x01\\x01`` and ``\\x01`` becomes ``\\x01\\x02``; every other
    character stays. The codewords are prefix-free and ordered like the
    characters they stand for, so byte order of escaped UTF-8 is codepoint
    order of the originals (what ``evaluate`` uses), ``a`` starts with ``b``
    exactly when ``escape(a)`` starts with ``escape(b)``, and a trailing NUL
    can end a value inside a sorted-set member unambiguously.
    """
    if "\x00" not in value and "\x01" not in value:
        return value
    return value.replace("\x01", "\x01\x02").replace("\x00", "\x01\x01")


def entry(value: str) -> str:
    """The start of a sorted-set member for ``value``: escaped, NUL-terminated."""
    return escape(value) + SEP
