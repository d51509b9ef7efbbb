"""Webhook deliveries in GitHub's format (headers and JSON bodies), written for these tests."""

from __future__ import annotations

import json
from typing import Any

REPOSITORY: dict[str, Any] = {
    "id": 81234567,
    "node_id": "R_kgDOBNd3Bw",
    "name": "widgets",
    "full_name": "acme/widgets",
    "private": False,
    "owner": {"login": "acme", "id": 1001, "type": "Organization", "site_admin": False},
    "html_url": "https://github.com/acme/widgets",
    "url": "https://api.github.com/repos/acme/widgets",
    "default_branch": "main",
}
SENDER: dict[str, Any] = {"login": "octocat", "id": 583231, "type": "User", "site_admin": False}


def push() -> dict[str, Any]:
    return {
        "ref": "refs/heads/main",
        "before": "9a1f3b7c2d4e5f60718293a4b5c6d7e8f9012345",
        "after": "0d1e2f3a4b5c6d7e8f90123456789abcdef01234",
        "created": False,
        "deleted": False,
        "forced": False,
        "base_ref": None,
        "compare": "https://github.com/acme/widgets/compare/9a1f3b7c2d4e...0d1e2f3a4b5c",
        "commits": [
            {
                "id": "0d1e2f3a4b5c6d7e8f90123456789abcdef01234",
                "tree_id": "5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081",
                "distinct": True,
                "message": "Fix the sprocket alignment",
                "timestamp": "2026-11-25T10:15:00+01:00",
                "url": "https://github.com/acme/widgets/commit/0d1e2f3a4b5c6d7e8f90123456789abcdef01234",
                "author": {"name": "Octo Cat", "email": "octocat@example.com", "username": "octocat"},
                "committer": {"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"},
                "added": [],
                "removed": [],
                "modified": ["sprocket.py"],
            }
        ],
        "head_commit": None,
        "repository": REPOSITORY,
        "pusher": {"name": "octocat", "email": "octocat@example.com"},
        "sender": SENDER,
    }


def pull_request(action: str = "opened", number: int = 42) -> dict[str, Any]:
    return {
        "action": action,
        "number": number,
        "pull_request": {
            "url": f"https://api.github.com/repos/acme/widgets/pulls/{number}",
            "id": 2100000000 + number,
            "number": number,
            "state": "open",
            "locked": False,
            "title": "Add gear ratios",
            "user": SENDER,
            "body": "Adds gear ratios to the sprocket.",
            "draft": False,
            "head": {
                "label": "octocat:gears",
                "ref": "gears",
                "sha": "aa11bb22cc33dd44ee55ff6677889900aabbccdd",
            },
            "base": {"label": "acme:main", "ref": "main", "sha": "9a1f3b7c2d4e5f60718293a4b5c6d7e8f9012345"},
            "merged": False,
            "commits": 1,
            "additions": 10,
            "deletions": 2,
            "changed_files": 1,
        },
        "repository": REPOSITORY,
        "sender": SENDER,
    }


def issues(action: str = "opened", number: int = 7) -> dict[str, Any]:
    return {
        "action": action,
        "issue": {
            "url": f"https://api.github.com/repos/acme/widgets/issues/{number}",
            "id": 3100000000 + number,
            "number": number,
            "title": "Sprocket squeaks",
            "user": SENDER,
            "state": "open",
            "labels": [],
            "body": "It squeaks at high speed.",
        },
        "repository": REPOSITORY,
        "sender": SENDER,
    }


def release(tag: str = "v1.2.0") -> dict[str, Any]:
    return {
        "action": "published",
        "release": {"id": 123456, "tag_name": tag, "name": tag, "draft": False, "prerelease": False},
        "repository": REPOSITORY,
        "sender": SENDER,
    }


def ping() -> dict[str, Any]:
    return {
        "zen": "Keep it logically awesome.",
        "hook_id": 480012345,
        "hook": {
            "type": "Repository",
            "id": 480012345,
            "name": "web",
            "active": True,
            "events": ["push", "pull_request"],
            "config": {"content_type": "json", "insecure_ssl": "0", "url": "https://hooks.example/"},
        },
        "repository": REPOSITORY,
        "sender": SENDER,
    }


def encode(payload: dict[str, Any]) -> bytes:
    """The body bytes as GitHub sends them (compact JSON)."""
    return json.dumps(payload, separators=(",", ":")).encode()


def headers(event: str, delivery: str, signature: str | None = None) -> dict[str, str]:
    """The request headers GitHub sends with a delivery."""
    out = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/4f3a2b1",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-GitHub-Hook-ID": "480012345",
        "X-GitHub-Hook-Installation-Target-Type": "repository",
        "X-GitHub-Hook-Installation-Target-ID": "81234567",
    }
    if signature is not None:
        out["X-Hub-Signature-256"] = signature
    return out


ORGANIZATION: dict[str, Any] = {"login": "acme", "id": 1001, "url": "https://api.github.com/orgs/acme"}


def repository_event(**fields: Any) -> dict[str, Any]:
    """A repository webhook's payload: the event's own fields, the repository and the sender."""
    return {**fields, "repository": REPOSITORY, "sender": SENDER}


def organization_event(**fields: Any) -> dict[str, Any]:
    """An organisation webhook's payload: the event's own fields, the organisation and the sender."""
    return {**fields, "organization": ORGANIZATION, "sender": SENDER}
