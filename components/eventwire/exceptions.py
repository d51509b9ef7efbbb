"""Every exception eventwire's component library raises.

EventwireError
├── InvalidResourceError    a custom resource does not match its CRD (carries field errors)
├── ConversionError         a Knative manifest eventwire does not convert
└── ConfigError             stack configuration or component arguments are invalid
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class EventwireError(Exception):
    """The base of every eventwire error."""


@dataclass(frozen=True)
class FieldError:
    """One problem with one field: `path` is a dotted path such as spec.resources[0].kind."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidResourceError(EventwireError):
    """A custom resource failed validation; `errors` lists every problem found."""

    def __init__(self, resource_name: str, errors: Sequence[FieldError]):
        self.resource_name = resource_name
        self.errors = list(errors)
        lines = "\n".join(f"  {error}" for error in self.errors)
        super().__init__(f"{resource_name} is invalid:\n{lines}")


class ConversionError(EventwireError):
    """A Knative manifest cannot be converted to the eventwire API."""


class ConfigError(EventwireError):
    """Invalid stack configuration or component arguments; the message names the key."""
