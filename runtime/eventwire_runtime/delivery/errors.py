"""The runtime's exceptions, kept importable from here; the tree is drawn in `eventwire_runtime.errors`."""

from eventwire_runtime.errors import ConfigError, EventFormatError, EventwireError, TransportError

__all__ = ["ConfigError", "EventFormatError", "EventwireError", "TransportError"]
