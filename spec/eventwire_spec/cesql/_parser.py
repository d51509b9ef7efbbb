"""A recursive-descent parser for CloudEvents SQL v1 (spec sections 2 and 3.6).

Written by hand because no maintained Python CESQL library exists (PyPI has none; the reference
grammar is ANTLR, whose Python runtime would be a dependency of this dependency-free package and
whose generated parser is slow to load and to run). The grammar is small: one function per
precedence level, lowest first.

Precedence follows the spec's section 3.6, evaluated left to right within a level:
    AND OR XOR  <  = != <> < <= > >=  <  + -  <  * / %  <  IN  <  LIKE  <  NOT, unary -  <  atoms
Keywords, function names and attribute names are case-insensitive; attribute names are folded to
lower case, as CloudEvents attribute names are lower case.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from eventwire_spec.cesql._errors import CesqlParseError
from eventwire_spec.cesql._syntax import Binary, Call, Exists, Identifier, In, Like, Literal, Node, Unary

INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1

MAX_DEPTH: Final = 64
"""The deepest nesting accepted: parsing and evaluation recurse per level, within Python's stack."""
TOO_DEEP: Final = f"the expression nests deeper than {MAX_DEPTH} levels; split it or use IN (...)"

_KEYWORDS: Final = frozenset({"AND", "OR", "XOR", "NOT", "LIKE", "IN", "EXISTS", "TRUE", "FALSE"})
_COMPARISON: Final = frozenset({"=", "!=", "<>", "<", "<=", ">", ">="})
_TOKEN: Final = re.compile(
    r"""
    (?P<space>[ \t\r\n]+)
  | (?P<word>[A-Za-z0-9_]+)
  | (?P<string>'(?:\\.|''|[^'\\])*'|"(?:\\.|""|[^"\\])*")
  | (?P<symbol><>|!=|>=|<=|[=<>+\-*/%(),])
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class _Token:
    kind: str  # "word", "int", "string", "symbol", "end"
    text: str
    position: int

    @property
    def keyword(self) -> str | None:
        upper = self.text.upper()
        return upper if self.kind == "word" and upper in _KEYWORDS else None

    def describe(self) -> str:
        return "the end of the expression" if self.kind == "end" else repr(self.text)


def _unquote(literal: str) -> str:
    """The value of a quoted string literal: \\' (or \\") and a doubled quote stand for the quote;
    any other backslash is kept, so that LIKE patterns still see their \\% and \\_ escapes."""
    quote, body = literal[0], literal[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            following = body[i + 1]
            out.append(following if following == quote else char + following)
            i += 2
        elif char == quote:  # the first of a doubled quote
            out.append(quote)
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _tokenize(expression: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if match is None:
            char = expression[position]
            if char in "'\"":
                raise CesqlParseError("unterminated string literal", expression, position)
            raise CesqlParseError(f"unexpected character {char!r}", expression, position)
        kind = match.lastgroup
        assert kind is not None
        text = match.group()
        if kind == "word" and text.isdigit():
            kind = "int"
        if kind != "space":
            tokens.append(_Token(kind, text, position))
        position = match.end()
    tokens.append(_Token("end", "", len(expression)))
    return tokens


class _Parser:
    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = _tokenize(expression)
        self.index = 0
        self.depth = 0
        self.ambiguities: list[str] = []

    # -- token helpers --

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def peek(self, offset: int = 1) -> _Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def error(self, message: str, token: _Token | None = None) -> CesqlParseError:
        return CesqlParseError(message, self.expression, (token or self.current).position)

    def at_symbol(self, *symbols: str) -> bool:
        return self.current.kind == "symbol" and self.current.text in symbols

    def at_keyword(self, *keywords: str) -> bool:
        return self.current.keyword in keywords

    def expect_symbol(self, symbol: str, context: str) -> None:
        if not self.at_symbol(symbol):
            raise self.error(f"expected {symbol!r} {context}, found {self.current.describe()}")
        self.advance()

    # -- grammar, lowest precedence first --

    def parse(self) -> Node:
        if self.current.kind == "end":
            raise self.error("the expression is empty")
        node = self.logic()
        if self.current.kind != "end":
            raise self.error(f"unexpected {self.current.describe()} after a complete expression")
        return node

    def nested(self, parse: Callable[[], Node]) -> Node:
        """Run `parse` one nesting level deeper (parentheses, arguments, prefix operators)."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(TOO_DEEP)
        try:
            return parse()
        finally:
            self.depth -= 1

    def logic(self) -> Node:
        return self.nested(self.logic_level)

    def logic_level(self) -> Node:
        node = self.comparison()
        first: str | None = None
        while self.at_keyword("AND", "OR", "XOR"):
            token = self.advance()
            operator = token.text.upper()
            if first is not None and operator != first and not self.ambiguities:
                self.ambiguities.append(
                    f"{first} and {operator} are mixed without parentheses (at column {token.position + 1})"
                )
            first = first or operator
            node = Binary(operator, node, self.comparison())
        return node

    def comparison(self) -> Node:
        node = self.additive()
        while self.current.kind == "symbol" and self.current.text in _COMPARISON:
            operator = self.advance().text
            node = Binary(operator, node, self.additive())
        return node

    def additive(self) -> Node:
        node = self.multiplicative()
        while self.at_symbol("+", "-"):
            operator = self.advance().text
            node = Binary(operator, node, self.multiplicative())
        return node

    def multiplicative(self) -> Node:
        node = self.membership()
        while self.at_symbol("*", "/", "%"):
            operator = self.advance().text
            node = Binary(operator, node, self.membership())
        return node

    def at_postfix(self, keyword: str) -> bool:
        """At `keyword` or NOT `keyword` (IN and LIKE take an optional NOT)."""
        return self.at_keyword(keyword) or (self.at_keyword("NOT") and self.peek().keyword == keyword)

    def negation(self) -> bool:
        """Consume an optional NOT before IN or LIKE and the keyword itself; True when negated."""
        negated = self.advance().keyword == "NOT"
        if negated:
            self.advance()
        return negated

    def membership(self) -> Node:
        # As in the reference grammar, a LIKE may also follow an IN: (x IN (...)) LIKE 'p'.
        node = self.like()
        while self.at_postfix("IN") or self.at_postfix("LIKE"):
            node = In(node, *self.in_suffix()) if self.at_postfix("IN") else self.like_suffix(node)
        return node

    def in_suffix(self) -> tuple[tuple[Node, ...], bool]:
        negated = self.negation()
        self.expect_symbol("(", "to open the IN set")
        if self.at_symbol(")"):
            raise self.error("an IN set needs at least one element")
        items = [self.logic()]
        while self.at_symbol(","):
            self.advance()
            items.append(self.logic())
        self.expect_symbol(")", "to close the IN set")
        return tuple(items), negated

    def like(self) -> Node:
        node = self.unary()
        while self.at_postfix("LIKE"):
            node = self.like_suffix(node)
        return node

    def like_suffix(self, operand: Node) -> Like:
        negated = self.negation()
        pattern = self.advance()
        if pattern.kind != "string":
            raise self.error(
                f"the pattern of LIKE must be a string literal, found {pattern.describe()}", pattern
            )
        return Like(operand, _unquote(pattern.text), negated)

    def unary(self) -> Node:
        token = self.current
        if token.keyword == "NOT":
            self.advance()
            return Unary("NOT", self.nested(self.unary))
        if token.kind == "symbol" and token.text in "+-":
            self.advance()
            if self.current.kind == "int":  # a signed integer literal, e.g. -2147483648
                return self.integer(self.advance(), negative=token.text == "-", start=token)
            if token.text == "+":
                raise self.error("'+' must be followed by an integer literal", token)
            return Unary("-", self.nested(self.unary))
        return self.primary()

    def integer(self, token: _Token, negative: bool = False, start: _Token | None = None) -> Literal:
        value = -int(token.text) if negative else int(token.text)
        if not INT32_MIN <= value <= INT32_MAX:
            raise self.error(f"integer literal {value} is outside the 32-bit signed range", start or token)
        return Literal(value)

    def primary(self) -> Node:
        token = self.current
        if token.kind == "int":
            return self.integer(self.advance())
        if token.kind == "string":
            return Literal(_unquote(self.advance().text))
        if token.kind == "symbol" and token.text == "(":
            self.advance()
            node = self.logic()
            self.expect_symbol(")", "to close the parenthesis")
            return node
        if token.kind != "word":
            raise self.error(f"expected an expression, found {token.describe()}")
        keyword = token.keyword
        if keyword in ("TRUE", "FALSE"):
            self.advance()
            return Literal(keyword == "TRUE")
        if keyword == "EXISTS":
            self.advance()
            return Exists(self.identifier_name(self.advance(), "EXISTS needs an attribute name"))
        if keyword is not None:
            raise self.error(f"expected an expression, found the keyword {keyword}")
        if self.peek().kind == "symbol" and self.peek().text == "(":
            return self.call()
        return Identifier(self.identifier_name(self.advance(), "expected an attribute name"))

    def identifier_name(self, token: _Token, problem: str) -> str:
        if token.kind != "word" or token.keyword is not None:
            raise self.error(f"{problem}, found {token.describe()}", token)
        if "_" in token.text:
            raise self.error(f"{token.text!r} is not an attribute name (letters and digits only)", token)
        return token.text.lower()

    def call(self) -> Call:
        name_token = self.advance()
        if not re.fullmatch(r"[A-Za-z][A-Za-z_]*", name_token.text):
            raise self.error(f"{name_token.text!r} is not a function name", name_token)
        self.advance()  # "("
        arguments: list[Node] = []
        if not self.at_symbol(")"):
            arguments.append(self.logic())
            while self.at_symbol(","):
                self.advance()
                arguments.append(self.logic())
        self.expect_symbol(")", f"to close the arguments of {name_token.text.upper()}")
        return Call(name_token.text.upper(), tuple(arguments))


def _depth(root: Node) -> int:
    deepest = 0
    pending: list[tuple[Node, int]] = [(root, 1)]
    while pending:
        node, depth = pending.pop()
        deepest = max(deepest, depth)
        if isinstance(node, Unary | Like | In):
            pending.append((node.operand, depth + 1))
        if isinstance(node, Binary):
            pending.extend(((node.left, depth + 1), (node.right, depth + 1)))
        if isinstance(node, In | Call):
            pending.extend(
                (item, depth + 1) for item in (node.items if isinstance(node, In) else node.arguments)
            )
    return deepest


def parse_syntax(expression: str) -> tuple[Node, list[str]]:
    """The syntax tree of `expression` and its ambiguities (valid CESQL that engines read apart).

    AND, OR and XOR share one precedence level, read left to right (spec 3.6), so `a AND b OR c`
    is `(a AND b) OR c`; the reference ANTLR grammar, and engines generated from it such as
    Knative's, group it from the right instead: `a AND (b OR c)`. Such a mix is reported, once.
    CesqlParseError names a syntax problem and its column.
    """
    if not isinstance(expression, str):
        raise CesqlParseError(f"a CESQL expression must be a string, not {type(expression).__name__}", "", 0)
    parser = _Parser(expression)
    root = parser.parse()
    if _depth(root) > MAX_DEPTH:  # e.g. a long chain of AND, parsed by a loop, not by recursion
        raise CesqlParseError(TOO_DEEP, expression, 0)
    return root, parser.ambiguities
