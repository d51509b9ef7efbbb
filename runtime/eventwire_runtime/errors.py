"""Every exception the runtime raises on purpose, in one tree (`except EventwireError` catches them all).

EventwireError
├── TransportError        an HTTP exchange failed below the status line (connect, reset,
│                         malformed response, timeout; delivery.http_client)
├── EventFormatError      a request is not a valid CloudEvent (ingress answers 400)
├── EventTooLarge         a backend's broker cannot store an event this large (ingress answers 413)
├── WebhookError          a GitHub webhook delivery is refused, with the HTTP status to answer
├── ConfigError           settings or a routing table are invalid (named field in message)
│   ├── SettingsError     an environment variable or flag is invalid; the message names it (settings)
│   └── KubeConfigError   no Kubernetes credentials (also a KubeError)
├── KubeError             a Kubernetes API request failed, with its HTTP status (kube)
│   └── GoneError         a watch's resourceVersion expired (410): re-list (kube)
├── NotOwnedError         a child with the desired name belongs to someone else (controller.children)
└── GitHubError           a GitHub API request failed (controller.sources.github)

Errors a library raises (aiohttp, botocore, kubernetes_asyncio) are caught by their own names where
they can happen and, when they must travel further, wrapped in one of these.
"""

from __future__ import annotations


class EventwireError(Exception):
    """Base class for the runtime's own errors."""


class TransportError(EventwireError):
    """An HTTP exchange failed without a status code (connection, parse or timeout)."""


class EventFormatError(EventwireError, ValueError):
    """The request is not a valid CloudEvent; the message says which rule it breaks."""


class EventTooLarge(EventwireError):
    """An event is larger than the backend's broker accepts; the message names the limit (413)."""


class WebhookError(EventwireError):
    """A webhook delivery we refuse; `status` is the HTTP code to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ConfigError(EventwireError, ValueError):
    """Invalid configuration; the message names the setting or field."""


class SettingsError(ConfigError):
    """An environment variable (or flag) is invalid; the message names it."""


class KubeError(EventwireError):
    """A Kubernetes API request failed; `status` is the HTTP status (0 for a transport error)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class KubeConfigError(KubeError, ConfigError):
    """No credentials: neither a pod's service account nor a usable kubeconfig."""

    def __init__(self, message: str):
        super().__init__(0, message)


class GoneError(KubeError):
    """The watch's resourceVersion is too old (410): re-list."""

    def __init__(self, message: str):
        super().__init__(410, message)


class NotOwnedError(EventwireError):
    """A child with the desired name exists but is not controlled by the reconciled object."""


class GitHubError(EventwireError):
    """A GitHub API request failed; the message names the request and GitHub's answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
