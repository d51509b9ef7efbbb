"""Field paths as users read them: spec.resources[0].kind."""

from __future__ import annotations

from collections.abc import Iterable


def join_path(parts: Iterable[str | int]) -> str:
    """Render path parts as a dotted path with [i] for list indices."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out
