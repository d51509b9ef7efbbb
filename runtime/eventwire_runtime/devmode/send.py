"""`eventwire dev send`: send one CloudEvent to a Channel or Broker of the running `dev up`, or a signed
sample webhook to its GitHubSource.

The webhook is signed as GitHub signs (`X-Hub-Signature-256`, HMAC-SHA256 of the body with the
source's webhook secret, which `dev up` generated and keeps in its state file).
"""

from __future__ import annotations

import datetime
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eventwire_runtime.adapters.github_events import sign
from eventwire_runtime.cloudevents.http import STRUCTURED_CONTENT_TYPE, percent_encode
from eventwire_runtime.delivery.errors import ConfigError

TIMEOUT = 10.0
DEFAULT_TYPE = "dev.eventwire.sample"
DEFAULT_SOURCE = "/eventwire/dev/send"


def _pick(name: str, known: Mapping[str, Any], what: str) -> str:
    """`namespace/name` of `name` (either form) among `known`.

    Raises:
        ConfigError: for an unknown or ambiguous name, listing the known ones.
    """
    if name in known:
        return name
    matches = [k for k in known if k.partition("/")[2] == name]
    if len(matches) == 1:
        return matches[0]
    listed = ", ".join(sorted(known)) or "none"
    if matches:
        raise ConfigError(f"{what} {name!r} is ambiguous; say namespace/name: {listed}")
    raise ConfigError(f"no {what} {name!r} in the running topology (there are: {listed})")


def _post(url: str, headers: Mapping[str, str], body: bytes) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return int(response.status), response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        raise ConfigError(f"cannot reach {url}: {exc}") from None


def event_request(
    event_type: str | None, source: str | None, data: str | None, file: str | None
) -> tuple[dict[str, str], bytes]:
    """Headers and body of the event: binary mode from the flags, or the structured file as is.

    Raises:
        ConfigError: for data that is not JSON or a file that is not a CloudEvent object.
    """
    if file is not None:
        try:
            text = Path(file).read_bytes()
            document = json.loads(text)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--file {file}: {exc}") from None
        if not isinstance(document, dict) or not {"specversion", "id", "type", "source"} <= document.keys():
            raise ConfigError(
                f"--file {file} must be a structured CloudEvent (specversion, id, type, source)"
            )
        return {"Content-Type": STRUCTURED_CONTENT_TYPE}, text
    body = b""
    headers = {
        "ce-specversion": "1.0",
        "ce-id": str(uuid.uuid4()),
        "ce-type": percent_encode(event_type or DEFAULT_TYPE),
        "ce-source": percent_encode(source or DEFAULT_SOURCE),
        "ce-time": datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z"),
    }
    if data is not None:
        try:
            json.loads(data)
        except ValueError as exc:
            raise ConfigError(f"--data must be JSON: {exc}") from None
        body = data.encode()
        headers["Content-Type"] = "application/json"
    return headers, body


def send_event(state: Mapping[str, Any], target: str, headers: Mapping[str, str], body: bytes) -> str:
    """POST the event to Channel or Broker `target`; returns what happened.

    Raises:
        ConfigError: for an unknown or ambiguous target, or a refusal.
    """
    addresses: dict[str, tuple[str, str]] = {}  # namespace/name -> (kind, url)
    for kind, field in (("Channel", "channels"), ("Broker", "brokers")):
        known = state.get(field) or {}
        if isinstance(known, Mapping):  # a state file of an older `dev up` lists Broker names only
            for name, url in known.items():
                addresses.setdefault(name, (kind, str(url)))
    name = _pick(target, addresses, "Channel or Broker")
    kind, url = addresses[name]
    status, text = _post(url, headers, body)
    if status != 202:
        raise ConfigError(f"{kind} {name} answered {status}: {text.strip()}")
    event_id = headers.get("ce-id", "(from the file)")
    return f"sent {event_id} to {kind} {name}: 202 Accepted (see {state.get('viewer')})"


def _sample(event: str, owner_repo: str) -> dict[str, Any]:
    """A small payload shaped like GitHub's for `event` (the fields the adapter reads, and a few more)."""
    owner, _, name = owner_repo.rpartition("/")
    repository = {
        "full_name": owner_repo,
        "name": name,
        "owner": {"login": owner or name},
        "html_url": f"https://github.com/{owner_repo}",
    }
    sender = {"login": "octocat", "id": 1}
    before, after = "0" * 40, "a" * 40
    samples: dict[str, dict[str, Any]] = {
        "push": {
            "ref": "refs/heads/main",
            "before": before,
            "after": after,
            "compare": f"https://github.com/{owner_repo}/compare/{before[:12]}...{after[:12]}",
            "created": False,
            "deleted": False,
            "forced": False,
            "pusher": {"name": "octocat"},
            "commits": [{"id": after, "message": "Try eventwire dev", "author": {"name": "Octo Cat"}}],
        },
        "pull_request": {
            "action": "opened",
            "number": 1,
            "pull_request": {"number": 1, "title": "Try eventwire dev", "state": "open"},
        },
        "issues": {"action": "opened", "issue": {"number": 1, "title": "Events flow", "state": "open"}},
        "issue_comment": {
            "action": "created",
            "issue": {"number": 1},
            "comment": {
                "body": "Looks good",
                "html_url": f"https://github.com/{owner_repo}/issues/1#issuecomment-1",
            },
        },
        "release": {"action": "published", "release": {"tag_name": "v0.1.0", "name": "v0.1.0"}},
        "ping": {"zen": "Keep it logically awesome.", "hook_id": 1},
    }
    return {**samples.get(event, {"action": "created"}), "repository": repository, "sender": sender}


def send_github(state: Mapping[str, Any], event: str, source: str | None) -> str:
    """POST a signed sample `event` webhook to the GitHubSource (`source`, or the only one).

    Raises:
        ConfigError: when there is no such source or it refused the delivery.
    """
    hooks = {h["source"]: h for h in state.get("github") or []}
    if not hooks:
        raise ConfigError("the running topology has no GitHubSource running")
    if source is None:
        if len(hooks) > 1:
            raise ConfigError(f"several GitHubSources run; pick one with --to: {', '.join(sorted(hooks))}")
        source = next(iter(hooks))
    hook = hooks[_pick(source, hooks, "GitHubSource")]
    body = json.dumps(_sample(event, hook["ownerAndRepository"] or "example/repo")).encode()
    delivery = str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/eventwire-dev",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": sign(hook["secret"].encode(), body),
    }
    status, text = _post(hook["url"], headers, body)
    if status == 200 and hook["eventTypes"] and event not in hook["eventTypes"]:
        return (
            f"GitHubSource {hook['source']} dropped {event!r}: it only passes {', '.join(hook['eventTypes'])}"
        )
    if status not in (200, 202):
        raise ConfigError(f"GitHubSource {hook['source']} answered {status}: {text.strip()}")
    return f"sent {event} webhook {delivery} to GitHubSource {hook['source']}: {status} (see {state.get('viewer')})"
