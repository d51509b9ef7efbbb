"""Every exception the delivery, CloudEvents and dispatcher code raises on purpose.

EventwireError
├── TransportError        an HTTP exchange failed below the status line (connect, reset,
│                         malformed response, timeout)
├── EventFormatError      a request is not a valid CloudEvent (ingress answers 400)
└── ConfigError           settings or a routing table are invalid (named field in message)
"""

from __future__ import annotations


class EventwireError(Exception):
    """Base class for the runtime's own errors."""


class TransportError(EventwireError):
    """An HTTP exchange failed without a status code (connection, parse or timeout)."""


class EventFormatError(EventwireError, ValueError):
    """The request is not a valid CloudEvent; the message says which rule it breaks."""


class ConfigError(EventwireError, ValueError):
    """Invalid configuration; the message names the setting or field."""
