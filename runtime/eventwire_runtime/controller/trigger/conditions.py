"""Conditions of a Trigger: Ready = BrokerReady ∧ SubscriberResolved ∧ DeadLetterSinkResolved ∧
DependencyReady ∧ SubscriptionReady (Knative's names). SubscriptionReady says the Broker's
dispatcher serves this Trigger: the Broker's `status.triggers` lists its generation, ready, with
its subscriber; its filters failing to compile (a CESQL parse error) make it False with the
problem. DependencyReady follows the object the `knative.dev/dependency` annotation names
(`controller.dependency`; True without the annotation).
"""

from __future__ import annotations

from eventwire_runtime.controller.conditions import ConditionSet

BROKER_READY = "BrokerReady"
SUBSCRIBER_RESOLVED = "SubscriberResolved"
DEAD_LETTER_SINK_RESOLVED = "DeadLetterSinkResolved"
SUBSCRIPTION_READY = "SubscriptionReady"
DEPENDENCY_READY = "DependencyReady"
CONDITIONS = ConditionSet(
    (BROKER_READY, SUBSCRIBER_RESOLVED, DEAD_LETTER_SINK_RESOLVED, DEPENDENCY_READY, SUBSCRIPTION_READY)
)
