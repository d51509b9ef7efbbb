"""Delivering events to a destination with Knative's delivery semantics.

Shared by the channel dispatcher and the source adapters:

- `DeliverySpec`, `parse_duration` (spec.py): the CRD's delivery options, parsed.
- `retry_delay` (backoff.py): the one backoff formula.
- `is_retryable`, `is_success`, `parse_retry_after` (retry.py): the response-code table.
- `HttpClient`, `Response` (http_client.py): a fast pooled keep-alive HTTP/1.1 client.
- `Sender`, `DeliveryResult` (sender.py): timeout, retries and dead-lettering around it.
"""

from eventwire_runtime.delivery.backoff import retry_delay
from eventwire_runtime.delivery.errors import ConfigError, EventFormatError, EventwireError, TransportError
from eventwire_runtime.delivery.http_client import HttpClient, Response
from eventwire_runtime.delivery.retry import is_retryable, is_success, parse_retry_after
from eventwire_runtime.delivery.sender import DeliveryResult, Sender
from eventwire_runtime.delivery.spec import DeliverySpec, parse_duration

__all__ = [
    "ConfigError",
    "DeliveryResult",
    "DeliverySpec",
    "EventFormatError",
    "EventwireError",
    "HttpClient",
    "Response",
    "Sender",
    "TransportError",
    "is_retryable",
    "is_success",
    "parse_duration",
    "parse_retry_after",
    "retry_delay",
]
