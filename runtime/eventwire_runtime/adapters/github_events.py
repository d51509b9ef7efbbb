"""GitHub webhook deliveries as CloudEvents: signature checks and payload-to-event mapping.

Pure functions (no I/O), used by the GitHubSource adapter and tested table-driven.

Attributes follow Knative's GitHubSource: type `dev.knative.source.github.<X-GitHub-Event>`,
source `https://github.com/<owner>[/<repo>]`, id `X-GitHub-Delivery`, `datacontenttype`
`application/json`, data the JSON payload exactly as GitHub sent it. `subject` names what the
event is about (see `SUBJECT_PATHS`); extensions `githubaction` (the payload's `action`, when
present) and `githubrepository` (`repository.full_name`, when present) let triggers filter on
them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from eventwire_runtime.adapters.events import SourceEvent

TYPE_PREFIX = "dev.knative.source.github."
SIGNATURE_PREFIX = "sha256="

# Event name -> path into the payload whose value becomes `subject` (first path found wins).
SUBJECT_PATHS: dict[str, tuple[tuple[str | int, ...], ...]] = {
    "push": (("ref",),),
    "create": (("ref",),),
    "delete": (("ref",),),
    "pull_request": (("number",), ("pull_request", "number")),
    "pull_request_review": (("pull_request", "number"),),
    "pull_request_review_comment": (("pull_request", "number"),),
    "pull_request_review_thread": (("pull_request", "number"),),
    "issues": (("issue", "number"),),
    "issue_comment": (("issue", "number"),),
    "release": (("release", "tag_name"),),
    "check_run": (("check_run", "id"),),
    "check_suite": (("check_suite", "id"),),
    "commit_comment": (("comment", "commit_id"),),
    "deployment": (("deployment", "id"),),
    "deployment_status": (("deployment", "id"),),
    "fork": (("forkee", "full_name"),),
    "gollum": (("pages", 0, "page_name"),),
    "installation": (("installation", "id"),),
    "label": (("label", "name"),),
    "member": (("member", "login"),),
    "membership": (("member", "login"),),
    "milestone": (("milestone", "number"),),
    "page_build": (("build", "commit"),),
    "project_card": (("project_card", "id"),),
    "project_column": (("project_column", "id"),),
    "project": (("project", "id"),),
    "repository": (("repository", "full_name"),),
    "status": (("sha",),),
    "team": (("team", "slug"),),
    "team_add": (("team", "slug"),),
    "watch": (("sender", "login"),),
    "star": (("sender", "login"),),
    "workflow_run": (("workflow_run", "id"),),
    "workflow_job": (("workflow_job", "id"),),
    "workflow_dispatch": (("workflow",),),
}


class WebhookError(Exception):
    """A delivery we refuse; `status` is the HTTP code to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


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


def _lookup(payload: Any, path: tuple[str | int, ...]) -> Any:
    value = payload
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, list) or len(value) <= step:
                return None
            value = value[step]
        else:
            if not isinstance(value, Mapping):
                return None
            value = value.get(step)
    return value


def subject_for(event_name: str, payload: Any) -> str | None:
    """The `subject` for an event (see `SUBJECT_PATHS`), or None when it has none."""
    for path in SUBJECT_PATHS.get(event_name, ()):
        value = _lookup(payload, path)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
            return str(value)
    return None


def to_event(
    owner_and_repository: str, event_name: str, delivery_id: str, raw: bytes, payload: Any
) -> SourceEvent:
    """The CloudEvent for one verified delivery (see the module docstring)."""
    extensions: dict[str, str] = {}
    if isinstance(payload, Mapping):
        action = payload.get("action")
        if isinstance(action, str) and action:
            extensions["githubaction"] = action
        repository = _lookup(payload, ("repository", "full_name"))
        if isinstance(repository, str) and repository:
            extensions["githubrepository"] = repository
    return SourceEvent(
        type=TYPE_PREFIX + event_name,
        source=f"https://github.com/{owner_and_repository}",
        id=delivery_id,
        data=raw,
        datacontenttype="application/json",
        subject=subject_for(event_name, payload),
        extensions=extensions,
    )
