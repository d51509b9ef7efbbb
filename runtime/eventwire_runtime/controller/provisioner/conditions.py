"""Conditions of a ClusterChannelProvisioner: Ready = SettingsValid ∧ DispatcherReady."""

from __future__ import annotations

from eventwire_runtime.controller.conditions import ConditionSet

SETTINGS_VALID = "SettingsValid"
DISPATCHER_READY = "DispatcherReady"
CONDITIONS = ConditionSet((SETTINGS_VALID, DISPATCHER_READY))
