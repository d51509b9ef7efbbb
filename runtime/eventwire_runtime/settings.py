"""One way to read settings from the environment, for the controller, the dispatcher and the adapters.

Each component lists its own variables (`controller.settings`, `dispatcher.settings`,
`adapters.env`); all of them convert and check values with these functions, so a value means the
same everywhere (durations are seconds or ISO-8601, booleans true/false/1/0/yes/no) and every
error is a SettingsError naming the variable (or flag) and what it must be.

Written by hand rather than with pydantic-settings: the dispatcher lets a flag win over each
variable and names whichever it read in errors, durations accept two grammars, and the runtime
image would gain pydantic for a few dozen lines of checks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from eventwire_runtime.delivery.spec import parse_duration
from eventwire_runtime.errors import SettingsError

__all__ = [
    "SettingsError",
    "env_bool",
    "env_choice",
    "env_int",
    "env_number",
    "env_seconds",
    "env_str",
    "to_choice",
    "to_int",
    "to_number",
    "to_seconds",
]


def to_int(name: str, text: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """`text`, the value of `name`, as an integer within the bounds.

    Raises:
        SettingsError: when not an integer or out of bounds (named).
    """
    try:
        value = int(text.strip())
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {text!r}") from None
    if minimum is not None and value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{name} must be at most {maximum}, got {value}")
    return value


def to_number(name: str, text: str, minimum: float) -> float:
    """`text`, the value of `name`, as a finite number of at least `minimum`.

    Raises:
        SettingsError: when not a number or below `minimum` (named).
    """
    try:
        value = float(text.strip())
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {text!r}") from None
    if not math.isfinite(value) or value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {text!r}")
    return value


def to_seconds(name: str, text: str, positive: bool = False) -> float:
    """`text`, the value of `name`, as a duration: plain seconds (`2.5`) or ISO-8601 (`PT2.5S`).

    Args:
        positive: reject zero as well as negative durations.

    Raises:
        SettingsError: when neither form parses, or the value is out of range (named).
    """
    try:
        value = float(text)
    except ValueError:
        try:
            value = parse_duration(text.strip())
        except ValueError:
            raise SettingsError(
                f"{name} must be seconds (e.g. 2.5) or ISO-8601 (e.g. PT2.5S), got {text!r}"
            ) from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        kind = "positive" if positive else "non-negative"
        raise SettingsError(f"{name} must be a {kind} duration, got {text!r}")
    return value


def to_choice(name: str, text: str, choices: tuple[str, ...], upper: bool = False) -> str:
    """`text`, the value of `name`, stripped and case-folded (lower, or `upper`), one of `choices`.

    Raises:
        SettingsError: for any other value (named, with the choices).
    """
    value = text.strip().upper() if upper else text.strip().lower()
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {text!r}")
    return value


def env_str(environ: Mapping[str, str], name: str, default: str | None = None) -> str:
    """A required (no default) or defaulted string setting, stripped; empty counts as unset.

    Raises:
        SettingsError: when required and missing or empty.
    """
    value = environ.get(name, "").strip()
    if value:
        return value
    if default is None:
        raise SettingsError(f"{name} is required")
    return default


def env_int(
    environ: Mapping[str, str],
    name: str,
    default: int,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    """An integer setting with bounds; `default` when unset or empty.

    Raises:
        SettingsError: when not an integer or out of bounds (named).
    """
    text = environ.get(name, "").strip()
    return to_int(name, text, minimum, maximum) if text else default


def env_number(environ: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    """A number setting of at least `minimum`; `default` when unset or empty.

    Raises:
        SettingsError: when not a number or below `minimum` (named).
    """
    text = environ.get(name, "").strip()
    return to_number(name, text, minimum) if text else default


def env_seconds(environ: Mapping[str, str], name: str, default: float, positive: bool = False) -> float:
    """A duration setting (see `to_seconds`); `default` when unset or empty.

    Raises:
        SettingsError: when neither form parses, or the value is out of range (named).
    """
    text = environ.get(name, "").strip()
    return to_seconds(name, text, positive) if text else default


def env_choice(
    environ: Mapping[str, str], name: str, default: str, choices: tuple[str, ...], upper: bool = False
) -> str:
    """One of `choices` (see `to_choice`); `default` when unset or empty.

    Raises:
        SettingsError: for any other value (named, with the choices).
    """
    text = environ.get(name, "").strip()
    return to_choice(name, text, choices, upper) if text else default


def env_bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    """A boolean setting: true/false, 1/0, yes/no (case-insensitive); `default` when unset.

    Raises:
        SettingsError: for any other value.
    """
    text = environ.get(name, "").strip().lower()
    if not text:
        return default
    if text in {"true", "1", "yes"}:
        return True
    if text in {"false", "0", "no"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {text!r}")
