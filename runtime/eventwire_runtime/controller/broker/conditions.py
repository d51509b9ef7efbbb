"""Conditions of a Broker, Knative's set: Ready = IngressReady ∧ FilterReady ∧ TriggerChannelReady
∧ Addressable ∧ DeadLetterSinkResolved.

eventwire's Broker has no ingress, filter or trigger-channel Deployments of its own: the
provisioner's dispatcher is all three. TriggerChannelReady follows the provisioner itself (it
exists, its settings are valid: the storage can be provisioned), IngressReady and FilterReady
follow its dispatcher (DispatcherReady).
"""

from __future__ import annotations

from eventwire_runtime.controller.conditions import ConditionSet

INGRESS_READY = "IngressReady"
FILTER_READY = "FilterReady"
TRIGGER_CHANNEL_READY = "TriggerChannelReady"
ADDRESSABLE = "Addressable"
DEAD_LETTER_SINK_RESOLVED = "DeadLetterSinkResolved"
CONDITIONS = ConditionSet(
    (INGRESS_READY, FILTER_READY, TRIGGER_CHANNEL_READY, ADDRESSABLE, DEAD_LETTER_SINK_RESOLVED)
)
