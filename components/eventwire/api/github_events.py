"""GitHub's webhook event names, the values GitHubSource.spec.eventTypes accepts.

The catalogue lives in eventwire_spec, shared with the runtime adapter that handles every one.
"""

from eventwire_spec.github_events import GITHUB_EVENTS

__all__ = ["GITHUB_EVENTS"]
