"""CloudEvents 1.0 over HTTP, as the hot path needs it: pass headers and body through untouched.

The cloudevents SDK re-serialises events (changing body bytes) and costs 20-26x a header
pass-through, so the dispatcher and adapters use this module instead: it validates the required
attributes cheaply, converts between content modes only when a destination asks for it, and
percent-encodes per the HTTP binding.
"""

from eventwire_runtime.cloudevents.encoding import percent_encode
from eventwire_runtime.cloudevents.http import (
    BATCH_CONTENT_TYPE,
    STRUCTURED_CONTENT_TYPE,
    Event,
    add_extensions,
    event_from_response,
    events_from_request,
    percent_decode,
    to_structured,
)

__all__ = [
    "BATCH_CONTENT_TYPE",
    "STRUCTURED_CONTENT_TYPE",
    "Event",
    "add_extensions",
    "event_from_response",
    "events_from_request",
    "percent_decode",
    "percent_encode",
    "to_structured",
]
