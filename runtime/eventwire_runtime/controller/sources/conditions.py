"""Conditions of the sources: Ready = SinkProvided ∧ Deployed, plus a kind's own conditions.

- SufficientPermissions (ApiServerSource): every watched kind exists and got its RBAC.
- WebhookRouted (GitHubSource): GitHub can reach the adapter at status.url: its VirtualService
  routes `<source>.<namespace>.<webhook domain>` through the webhook gateway (True with reason
  InClusterOnly when no webhook domain is configured: the URL is then the in-cluster Service).
- WebhookRegistered (GitHubSource): the webhook is registered (True with reason NotManaged when
  the controller is not asked to manage it).
"""

from __future__ import annotations

from eventwire_runtime.controller.conditions import ConditionSet

SINK_PROVIDED = "SinkProvided"
DEPLOYED = "Deployed"
SUFFICIENT_PERMISSIONS = "SufficientPermissions"
WEBHOOK_ROUTED = "WebhookRouted"
WEBHOOK_REGISTERED = "WebhookRegistered"

BASE = ConditionSet((SINK_PROVIDED, DEPLOYED))
API_SERVER = ConditionSet((SINK_PROVIDED, DEPLOYED, SUFFICIENT_PERMISSIONS))
GITHUB = ConditionSet((SINK_PROVIDED, DEPLOYED, WEBHOOK_ROUTED, WEBHOOK_REGISTERED))


def condition_set(kind: str) -> ConditionSet:
    return {"ApiServerSource": API_SERVER, "GitHubSource": GITHUB}.get(kind, BASE)
