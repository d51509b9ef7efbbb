"""Conditions of a Subscription: Ready = ReferencesResolved ∧ AddedToChannel ∧ ChannelReady."""

from __future__ import annotations

from eventwire_runtime.controller.conditions import ConditionSet

REFERENCES_RESOLVED = "ReferencesResolved"
ADDED_TO_CHANNEL = "AddedToChannel"
CHANNEL_READY = "ChannelReady"
CONDITIONS = ConditionSet((REFERENCES_RESOLVED, ADDED_TO_CHANNEL, CHANNEL_READY))
