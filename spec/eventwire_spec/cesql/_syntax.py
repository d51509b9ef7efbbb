"""The syntax tree of a CESQL expression: what the parser builds and the compiler reads."""

from __future__ import annotations

from dataclasses import dataclass

# Frozen dataclasses compare by value, so the compiler tells nodes apart by identity (`is`).


@dataclass(frozen=True, eq=False)
class Literal:
    value: bool | int | str


@dataclass(frozen=True, eq=False)
class Identifier:
    """A context attribute or extension, by its lower-case name."""

    name: str


@dataclass(frozen=True, eq=False)
class Exists:
    name: str


@dataclass(frozen=True, eq=False)
class Unary:
    operator: str  # "NOT" or "-"
    operand: Node


@dataclass(frozen=True, eq=False)
class Binary:
    operator: str  # AND OR XOR = != <> < <= > >= + - * / %
    left: Node
    right: Node


@dataclass(frozen=True, eq=False)
class Like:
    operand: Node
    pattern: str
    negated: bool


@dataclass(frozen=True, eq=False)
class In:
    operand: Node
    items: tuple[Node, ...]
    negated: bool


@dataclass(frozen=True, eq=False)
class Call:
    """A function invocation; `name` is upper case (function names are case-insensitive)."""

    name: str
    arguments: tuple[Node, ...]


Node = Literal | Identifier | Exists | Unary | Binary | Like | In | Call
