"""Conditions of a Trigger: Ready = BrokerReady ∧ SubscriberResolved ∧ DeadLetterSinkResolved ∧
SubscriptionReady (Knative's names). SubscriptionReady says the Broker's dispatcher serves this
Trigger: the Broker's `status.triggers` lists its generation, ready, with its subscriber; its
filters failing to compile (a CESQL parse error) make it False with the problem.
"""

from __future__ import annotations

from eventwire_runtime.controller.conditions import ConditionSet

BROKER_READY = "BrokerReady"
SUBSCRIBER_RESOLVED = "SubscriberResolved"
DEAD_LETTER_SINK_RESOLVED = "DeadLetterSinkResolved"
SUBSCRIPTION_READY = "SubscriptionReady"
CONDITIONS = ConditionSet((BROKER_READY, SUBSCRIBER_RESOLVED, DEAD_LETTER_SINK_RESOLVED, SUBSCRIPTION_READY))
