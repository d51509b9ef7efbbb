"""Conditions of the sources: Ready = SinkProvided ∧ Deployed, plus a kind's own conditions.

- SufficientPermissions (ApiServerSource): every watched kind exists and got its RBAC.
- WebhookRegistered (GitHubSource): the webhook is registered (True with reason NoAccessToken when
  the controller is not asked to manage it).
"""

from __future__ import annotations

from eventwire_runtime.controller.conditions import ConditionSet

SINK_PROVIDED = "SinkProvided"
DEPLOYED = "Deployed"
SUFFICIENT_PERMISSIONS = "SufficientPermissions"
WEBHOOK_REGISTERED = "WebhookRegistered"

BASE = ConditionSet((SINK_PROVIDED, DEPLOYED))
API_SERVER = ConditionSet((SINK_PROVIDED, DEPLOYED, SUFFICIENT_PERMISSIONS))
GITHUB = ConditionSet((SINK_PROVIDED, DEPLOYED, WEBHOOK_REGISTERED))


def condition_set(kind: str) -> ConditionSet:
    return {"ApiServerSource": API_SERVER, "GitHubSource": GITHUB}.get(kind, BASE)
