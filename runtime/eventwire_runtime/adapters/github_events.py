"""GitHub webhook deliveries as CloudEvents: signature checks and payload-to-event mapping.

Pure functions (no I/O), used by the GitHubSource adapter and tested table-driven.

Attributes follow Knative's GitHubSource: type `dev.knative.source.github.<X-GitHub-Event>`,
source `https://github.com/<owner>[/<repo>]`, id `X-GitHub-Delivery`, `datacontenttype`
`application/json`; `subject` and the extension attributes per event as Knative's adapter sets
them (see `github_attributes`). Unlike Knative, which re-encodes the payload from Go structs
(dropping the fields its structs lack), data is the JSON payload exactly as GitHub sent it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import parse_qs

from eventwire_runtime.adapters.events import SourceEvent
from eventwire_runtime.adapters.github_attributes import subject_and_extensions
from eventwire_runtime.errors import WebhookError as WebhookError  # importable from here too

TYPE_PREFIX = "dev.knative.source.github."
SIGNATURE_PREFIX = "sha256="


def sign(secret: bytes, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for `body`."""
    return SIGNATURE_PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, body: bytes, header: str | None) -> None:
    """Check `X-Hub-Signature-256` over the raw body, in constant time.

    Raises:
        WebhookError: 401 when the header is missing, malformed or does not match.
    """
    if not header:
        raise WebhookError(401, "missing X-Hub-Signature-256")
    if not header.startswith(SIGNATURE_PREFIX):
        raise WebhookError(401, "X-Hub-Signature-256 must start with 'sha256='")
    if not hmac.compare_digest(sign(secret, body).encode(), header.strip().encode()):
        raise WebhookError(401, "X-Hub-Signature-256 does not match the payload")


def payload_json(content_type: str, body: bytes) -> tuple[bytes, Any]:
    """The JSON payload bytes and their parsed value, for either content type GitHub uses.

    `application/json` bodies are the payload; `application/x-www-form-urlencoded` bodies carry it
    in the `payload` field.

    Raises:
        WebhookError: 400 for another content type, a missing form field or invalid JSON;
            415 for an unsupported media type.
    """
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        fields = parse_qs(body.decode("utf-8", "replace"))
        if "payload" not in fields:
            raise WebhookError(400, "form-encoded delivery without a 'payload' field")
        raw = fields["payload"][0].encode("utf-8")
    elif media in ("application/json", ""):
        raw = body
    else:
        raise WebhookError(415, f"unsupported content type {content_type!r}")
    try:
        return raw, json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WebhookError(400, "payload is not valid JSON") from None


def to_event(
    owner_and_repository: str, event_name: str, delivery_id: str, raw: bytes, payload: Any
) -> SourceEvent:
    """The CloudEvent for one verified delivery (see the module docstring)."""
    subject, extensions = subject_and_extensions(event_name, payload)
    return SourceEvent(
        type=TYPE_PREFIX + event_name,
        source=f"https://github.com/{owner_and_repository}",
        id=delivery_id,
        data=raw,
        datacontenttype="application/json",
        subject=subject,
        extensions=extensions,
    )
