"""Every exception the delivery, CloudEvents and dispatcher code raises on purpose.

EventwireError
├── TransportError        an HTTP exchange failed below the status line (connect, reset,
│                         malformed response, timeout)
├── EventFormatError      a request is not a valid CloudEvent (ingress answers 400)
├── ConfigError           settings or a routing table are invalid (named field in message)
│   ├── SettingsError     a controller environment variable is invalid (controller.settings)
│   └── KubeConfigError   no Kubernetes credentials (also a KubeError)
├── KubeError             a Kubernetes API request failed, with its HTTP status (kube)
│   └── GoneError         a watch's resourceVersion expired (410): re-list (kube)
├── NotOwnedError         a child with the desired name belongs to someone else (controller.children)
└── GitHubError           a GitHub API request failed (controller.sources.github)
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
