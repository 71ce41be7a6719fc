"""SCIM filters and PATCH paths: lexer, recursive-descent parser and binder.

``parse_filter`` reads the RFC 7644 §3.4.2.2 grammar (Figure 1) and
``parse_path`` the PATCH ``path`` of §3.5.2 (Figure 7). Both hand back the
bound AST of :mod:`.filter_ast`: every attribute is resolved against the
resource type and every comparison value coerced to the attribute's type
(RFC 7643 §2.3), so nothing downstream re-validates.

Grammar, with the leniencies real clients need::

    filter    = or
    or        = and *("or" and)
    and       = unary *("and" unary)              ; not > and > or
    unary     = "not" unary / "(" or ")" / attrExp / valuePath
    attrExp   = attrPath "pr" / attrPath compareOp compValue
    valuePath = attrPath "[" or "]"                ; no nesting inside
    attrPath  = [URI ":"] ATTRNAME ["." ATTRNAME]
    compValue = string / number / true / false / null / bare word
    path      = attrPath / attrPath "[" or "]" ["." ATTRNAME]

Names, operators, logical words and the literals true/false/null are
case-insensitive. ``not`` may precede any unary, not only ``(``. A bare word
(``externalId eq jyoung``, as Entra's documentation shows) is a string.
Whitespace is any run of Unicode spaces and is only needed between words.
``and``/``or`` chains are built as balanced trees: same meaning, shallow
recursion for the evaluator and the store compilers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import NamedTuple, NoReturn

from .errors import InvalidFilter, InvalidPath, ScimError
from .filter_ast import (
    COMPARE_OPS,
    And,
    Compare,
    Filter,
    Not,
    Or,
    PatchPath,
    Present,
    Value,
    ValuePath,
)
from .schema import (
    BINARY,
    BOOLEAN,
    DATETIME,
    DECIMAL,
    INTEGER,
    NEVER,
    REFERENCE,
    STRING,
    Resolved,
    ResourceType,
)

MAX_LENGTH = 4096
MAX_DEPTH = 64

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "parse_datetime", "parse_filter", "parse_path"]

# One token per match, leading whitespace skipped; every other character
# starts some alternative, so on right-stripped input finditer skips nothing.
# The string alternative is the "unrolled loop" form, linear on unterminated
# input; a '"' that opens no complete string is "bad".
_TOKEN = re.compile(
    r"""
    \s*
    (?:
      (?P<punct>[()\[\]])
    | (?P<str>"[^"\\]*(?:\\.[^"\\]*)*")
    | (?P<word>[^\s()\[\]"]+)
    | (?P<bad>")
    )
    """,
    re.VERBOSE | re.DOTALL,
)
_DECODER = json.JSONDecoder(strict=False)  # strict=False: raw tabs etc. are tolerated
# ATTRNAME = ALPHA *(nameChar), plus a leading "$" for "$ref" (RFC 7643 §2.1).
_PATH = re.compile(r"(\$?[A-Za-z][A-Za-z0-9_-]*)(?:\.(\$?[A-Za-z][A-Za-z0-9_-]*))?")
_SUB = re.compile(r"\.(\$?[A-Za-z][A-Za-z0-9_-]*)")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_SURROGATE = re.compile(r"[\ud800-\udfff]")

_LITERALS = {"true": True, "false": False, "null": None}
_OPERATORS = COMPARE_OPS | {"pr"}
_LOGICAL = frozenset({"and", "or", "not"})
_RESERVED = _OPERATORS | _LOGICAL
_ORDERING = frozenset({"gt", "ge", "lt", "le"})
_SUBSTRING = frozenset({"co", "sw", "ew"})
_TEXTUAL = frozenset({STRING, REFERENCE, BINARY})
_INT64 = (-(2**63), 2**63 - 1)
_DECIMAL_EXPONENT = 1000


class _Token(NamedTuple):
    kind: str  # "(", ")", "[", "]", "str", "word" or "end"
    text: str  # source text ("" for end)
    pos: int  # 0-based offset into the input
    value: str = ""  # decoded contents of a "str" token


# ---------------------------------------------------------------- public API


def parse_filter(text: str, rtype: ResourceType) -> Filter:
    """Parse and bind a ``filter`` query parameter (RFC 7644 §3.4.2.2).

    Raises :class:`InvalidFilter` (and nothing else) for any bad input, with
    the 1-based position and what was expected.
    """
    tokens = _tokenize(text, InvalidFilter, "filter")
    parser = _Parser(tokens, rtype, InvalidFilter)
    result = parser.disjunction(None)
    parser.expect_end("'and', 'or' or the end of the filter")
    return result


def parse_path(text: str, rtype: ResourceType) -> PatchPath:
    """Parse and bind a PATCH operation ``path`` (RFC 7644 §3.5.2, Figure 7).

    ``attr``, ``attr.sub``, ``attr[filter]`` and ``attr[filter].sub``, each
    optionally URN-qualified. A malformed path, an unknown attribute or a
    filter on anything but a multi-valued complex attribute raises
    :class:`InvalidPath`; a bad expression inside the brackets (or a missing
    ``]``) raises :class:`InvalidFilter`, which RFC 7644 Table 9 lists for
    "PATCH (Path filter)". Unlike in filters, a bare complex attribute stays
    whole and write-only attributes (``password``) are valid targets.
    """
    tokens = _tokenize(text, InvalidPath, "path", InvalidFilter)
    parser = _Parser(tokens, rtype, InvalidPath)
    head = parser.take()
    if head.kind != "word":
        parser.fail("expected an attribute path", head)
    if parser.peek().kind != "[":
        parser.expect_end("the end of the path or '['")
        return PatchPath(parser.resolve(head))
    outer = parser.value_path_target(head)
    inner = parser.bracketed(outer)
    tail = parser.peek()
    if tail.kind == "end":
        return PatchPath(outer, inner)
    parser.take()
    match = _SUB.fullmatch(tail.text) if tail.kind == "word" else None
    if match is None:
        parser.fail("expected '.subAttribute' or the end of the path", tail)
    sub = outer.attribute.sub(match[1])
    if sub is None:
        parser.fail(f"{outer.attribute.name!r} has no sub-attribute {match[1]!r}", tail)
    parser.expect_end("the end of the path")
    return PatchPath(Resolved(outer.urn, outer.attribute, sub), inner)


def parse_datetime(text: str) -> datetime:
    """An ISO 8601 / RFC 3339 timestamp as an aware UTC datetime (RFC 7643 §2.3.5).

    A value without an offset is taken as UTC. Raises ``ValueError``.
    """
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (TypeError, OverflowError) as exc:  # e.g. year 1 shifted before year 1
        raise ValueError(str(exc)) from exc


# ------------------------------------------------------------------- lexing


def _tokenize(
    text: str, error: type[ScimError], what: str, string_error: type[ScimError] | None = None
) -> list[_Token]:
    """Split ``text`` into tokens; JSON strings are decoded here (RFC 8259 §7).

    ``string_error`` is raised for a bad string literal: in a PATCH path strings
    only occur inside the brackets, where errors are filter errors.
    """
    string_error = string_error or error
    if not isinstance(text, str):
        raise error(f"the {what} must be a string")
    if len(text) > MAX_LENGTH:
        raise error(f"the {what} is longer than {MAX_LENGTH} characters")
    tokens: list[_Token] = []
    for match in _TOKEN.finditer(text.rstrip()):
        kind = match.lastgroup
        raw = match[kind]
        pos = match.start(kind)
        if kind == "word":
            tokens.append(_Token("word", raw, pos))
        elif kind == "punct":
            tokens.append(_Token(raw, raw, pos))
        elif kind == "str":
            tokens.append(_Token("str", raw, pos, _decode_string(raw, pos, string_error)))
        else:
            raise string_error(f"unterminated string at position {pos + 1} of the {what}")
    if not tokens:
        raise error(f"the {what} is empty")
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _decode_string(raw: str, pos: int, error: type[ScimError]) -> str:
    if "\\" not in raw:  # the common case: nothing to decode
        value = raw[1:-1]
    else:
        try:
            value = _DECODER.decode(raw)
        except ValueError:
            raise error(f"invalid escape in the string at position {pos + 1}") from None
    # A lone surrogate cannot be stored or encoded as UTF-8, and NUL is refused
    # by PostgreSQL text: stop both here rather than in every store.
    if "\x00" in value or _SURROGATE.search(value):
        raise error(f"the string at position {pos + 1} contains NUL or a lone surrogate")
    return value


# ------------------------------------------------------------------ parsing


def _balanced(node: Callable[[Filter, Filter], Filter], terms: list[Filter]) -> Filter:
    """Join ``terms`` with ``node`` as a balanced tree; left-leaning for three."""
    if len(terms) == 1:
        return terms[0]
    mid = (len(terms) + 1) // 2
    return node(_balanced(node, terms[:mid]), _balanced(node, terms[mid:]))


def _describe(tok: _Token) -> str:
    if tok.kind == "end":
        return "the end of the input"
    text = tok.text if len(tok.text) <= 30 else tok.text[:27] + "..."
    return repr(text)


class _Parser:
    """One parse: a token cursor plus the binding context."""

    __slots__ = ("depth", "error", "i", "rtype", "tokens")

    def __init__(self, tokens: list[_Token], rtype: ResourceType, error: type[ScimError]):
        self.tokens = tokens
        self.rtype = rtype
        self.error = error
        self.i = 0
        self.depth = 0

    # -- cursor

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def peek_next(self) -> _Token:
        """The token after the current one ("end" stays last)."""
        return self.tokens[min(self.i + 1, len(self.tokens) - 1)]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok

    def fail(self, message: str, tok: _Token) -> NoReturn:
        raise self.error(f"{message} at position {tok.pos + 1}")

    def expected(self, what: str, tok: _Token) -> NoReturn:
        self.fail(f"expected {what}, found {_describe(tok)}", tok)

    def expect_end(self, what: str) -> None:
        tok = self.peek()
        if tok.kind != "end":
            self.expected(what, tok)

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        return tok.kind == "word" and tok.text.lower() == word

    def nest(self, tok: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(f"nesting deeper than {MAX_DEPTH} levels", tok)

    # -- grammar

    def disjunction(self, scope: Resolved | None) -> Filter:
        terms = [self.conjunction(scope)]
        while self.keyword("or"):
            self.take()
            terms.append(self.conjunction(scope))
        return _balanced(Or, terms)

    def conjunction(self, scope: Resolved | None) -> Filter:
        terms = [self.unary(scope)]
        while self.keyword("and"):
            self.take()
            terms.append(self.unary(scope))
        return _balanced(And, terms)

    def unary(self, scope: Resolved | None) -> Filter:
        tok = self.peek()
        if tok.kind == "(":
            self.take()
            self.nest(tok)
            inner = self.disjunction(scope)
            closing = self.take()
            if closing.kind != ")":
                self.expected("'and', 'or' or ')'", closing)
            self.depth -= 1
            return inner
        if tok.kind != "word":
            self.expected("an attribute, 'not' or '('", tok)
        # A logical word is a keyword unless an operator follows it, which
        # makes it an attribute name ("not pr"): the grammar stays unambiguous.
        word = tok.text.lower()
        after = self.peek_next()
        keyword = word in _LOGICAL and not (
            after.kind == "word" and after.text.lower() in _OPERATORS
        )
        if keyword and word != "not":
            self.expected("an attribute, 'not' or '('", tok)
        if keyword:
            self.take()
            self.nest(tok)
            expr = self.unary(scope)
            self.depth -= 1
            return Not(expr)
        return self.attr_expression(scope)

    def attr_expression(self, scope: Resolved | None) -> Filter:
        name = self.take()
        if self.peek().kind == "[":
            if scope is not None:
                self.fail("value filters cannot be nested", self.peek())
            outer = self.value_path_target(name)
            return ValuePath(outer, self.bracketed(outer))
        op_tok = self.take()
        op = op_tok.text.lower() if op_tok.kind == "word" else ""
        if op not in _OPERATORS:
            self.expected(
                f"an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after {name.text!r}", op_tok
            )
        # Presence tests (pr, eq/ne null) keep a bare complex attribute whole.
        value_tok = self.peek()
        null = op != "pr" and value_tok.kind == "word" and value_tok.text.lower() == "null"
        if null and op not in ("eq", "ne"):
            self.fail(f"null can only be compared with eq or ne, not {op!r}", value_tok)
        presence = op == "pr" or null
        attr = self.bind(self.resolve_in(name, scope), op, name, presence)
        if op == "pr":
            return Present(attr)
        return Compare(attr, op, self.comparison_value(attr, op))

    def bracketed(self, outer: Resolved) -> Filter:
        """``[ valFilter ]``: the filter binds names to ``outer``'s sub-attributes.

        Errors inside the brackets, a missing ``]`` included, are filter
        errors whatever is being parsed.
        """
        opening = self.take()
        self.nest(opening)
        saved, self.error = self.error, InvalidFilter
        inner = self.disjunction(outer)
        closing = self.take()
        if closing.kind != "]":
            self.expected("'and', 'or' or ']'", closing)
        self.error = saved
        self.depth -= 1
        return inner

    def comparison_value(self, attr: Resolved, op: str) -> Value:
        tok = self.take()
        if tok.kind == "str":
            return self.coerce(attr, op, tok, "string", tok.value)
        if tok.kind != "word":
            self.expected(f"a value after {op!r}", tok)
        lowered = tok.text.lower()
        if lowered in _LITERALS:
            return self.coerce(attr, op, tok, lowered, _LITERALS[lowered])
        if _NUMBER.fullmatch(tok.text):
            return self.coerce(attr, op, tok, "number", tok.text)
        if lowered in _RESERVED:
            self.expected(f"a value after {op!r}", tok)
        return self.coerce(attr, op, tok, "string", tok.text)  # a bare word

    # -- binding

    def resolve(self, tok: _Token) -> Resolved:
        """``[URI ":"] ATTRNAME ["." subAttr]`` against the resource type (RFC 7644 §3.10)."""
        text = tok.text
        urn: str | None = None
        rest = text
        if ":" in text:
            # ATTRNAME and subAttr have no ":", so the URN is all before the last one.
            prefix, _, rest = text.rpartition(":")
            schema = self.rtype.schema_for(prefix)
            if schema is None:
                if self.rtype.schema_for(text) is not None:
                    self.fail(f"{text!r} is a schema, not an attribute", tok)
                self.fail(f"unknown schema in {text!r}", tok)
            urn = schema.id
        match = _PATH.fullmatch(rest)
        if match is None:
            self.fail(f"invalid attribute path {text!r}", tok)
        name, sub_name = match[1], match[2]
        found = self.rtype.resolve(name, urn=urn)
        if found is None:
            where = self.rtype.schema_for(urn).name if urn else self.rtype.name
            self.fail(f"unknown attribute {name!r} in {where}", tok)
        if sub_name is None:
            return found
        if not found.attribute.is_complex:
            self.fail(f"{found.attribute.name!r} has no sub-attributes", tok)
        sub = found.attribute.sub(sub_name)
        if sub is None:
            self.fail(f"{found.attribute.name!r} has no sub-attribute {sub_name!r}", tok)
        return Resolved(found.urn, found.attribute, sub)

    def resolve_in(self, tok: _Token, scope: Resolved | None) -> Resolved:
        """Resolve a name at top level, or as a sub-attribute inside ``scope[...]``."""
        if scope is None:
            return self.resolve(tok)
        match = _PATH.fullmatch(tok.text)
        if match is None or match[2] is not None:
            self.fail(
                f"expected a sub-attribute of {scope.attribute.name!r}, found {tok.text!r}", tok
            )
        sub = scope.attribute.sub(match[1])
        if sub is None:
            self.fail(f"{scope.attribute.name!r} has no sub-attribute {match[1]!r}", tok)
        return Resolved(scope.urn, scope.attribute, sub)

    def value_path_target(self, tok: _Token) -> Resolved:
        found = self.resolve(tok)
        if found.sub is not None:
            self.fail(f"a value filter applies to an attribute, not {found.dotted!r}", tok)
        if not (found.attribute.is_complex and found.attribute.multi_valued):
            self.fail(f"{found.attribute.name!r} is not a multi-valued complex attribute", tok)
        return found

    def bind(self, found: Resolved, op: str, tok: _Token, presence: bool) -> Resolved:
        """Check ``op`` against the attribute's type (RFC 7644 §3.4.2.2)."""
        for attr in (found.attribute, found.sub):
            if attr is not None and attr.returned == NEVER:
                self.fail(f"{attr.name!r} is never returned and cannot be filtered", tok)
        if found.sub is None and found.attribute.is_complex and not presence:
            # "emails co x" means "emails.value co x" (RFC 7644 §3.4.2.2 examples).
            value = found.attribute.sub("value")
            if value is None:
                self.fail(f"{found.attribute.name!r} is complex: name a sub-attribute", tok)
            found = Resolved(found.urn, found.attribute, value)
        kind = found.target.type
        if op in _SUBSTRING and kind not in (STRING, REFERENCE):
            self.fail(f"{op!r} needs a string attribute; {found.dotted!r} is {kind}", tok)
        if op in _ORDERING and kind in (BOOLEAN, BINARY):
            self.fail(f"{op!r} cannot order {kind} attribute {found.dotted!r}", tok)
        return found

    def coerce(self, attr: Resolved, op: str, tok: _Token, kind: str, raw: object) -> Value:
        """Coerce a literal to the type of ``attr.target`` (RFC 7643 §2.3).

        ``kind`` is "string" (quoted or bare), "number", "true", "false" or
        "null"; ``raw`` the decoded string, the number's text or the literal.
        """
        if kind == "null":  # attr_expression allowed it only after eq / ne
            return None
        kind_of, shown = attr.target.type, attr.dotted
        if kind_of in _TEXTUAL:
            if kind in ("true", "false"):
                self.fail(f"{shown!r} is a {kind_of}, not a boolean", tok)
            return str(raw)  # a number keeps the text the client wrote
        if kind_of == BOOLEAN:
            if isinstance(raw, bool):
                return raw
            if kind == "string" and str(raw).lower() in ("true", "false"):
                return str(raw).lower() == "true"
            self.fail(f"{shown!r} is a boolean: expected true or false", tok)
        if kind_of in (INTEGER, DECIMAL):
            if isinstance(raw, str) and _NUMBER.fullmatch(raw):
                return self.number(attr, raw, tok)
            self.fail(f"{shown!r} is {kind_of}: expected a number", tok)
        if kind_of == DATETIME:
            if kind == "string":
                try:
                    return parse_datetime(str(raw))
                except ValueError:
                    pass
            self.fail(f'{shown!r} is a dateTime: expected e.g. "2011-05-13T04:42:34Z"', tok)
        self.fail(f"{shown!r} ({kind_of}) cannot be compared", tok)

    def number(self, attr: Resolved, text: str, tok: _Token) -> int | Decimal:
        try:
            value = Decimal(text)
        except InvalidOperation:  # pragma: no cover - _NUMBER admits only valid text
            self.fail(f"invalid number {text!r}", tok)
        if attr.target.type == DECIMAL:
            # No store keeps 1e999999; refuse it here rather than fail in SQL.
            if abs(value.adjusted()) > _DECIMAL_EXPONENT:
                self.fail(f"{text} is out of range for {attr.dotted!r}", tok)
            return value
        # Bounds first: to_integral_value / int() on 1e999999 would be costly.
        if not (_INT64[0] <= value <= _INT64[1]) or value != value.to_integral_value():
            self.fail(f"{attr.dotted!r} is a 64-bit integer, not {text}", tok)
        return int(value)
