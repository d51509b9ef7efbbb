"""Conditions of a Channel: Ready = ProvisionerReady ∧ Addressable ∧ DeadLetterSinkResolved."""

from __future__ import annotations

from eventwire_runtime.controller.conditions import ConditionSet

PROVISIONER_READY = "ProvisionerReady"
ADDRESSABLE = "Addressable"
DEAD_LETTER_SINK_RESOLVED = "DeadLetterSinkResolved"
CONDITIONS = ConditionSet((PROVISIONER_READY, ADDRESSABLE, DEAD_LETTER_SINK_RESOLVED))
