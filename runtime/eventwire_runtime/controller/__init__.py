"""The eventwire controller (kopf): importing this package registers every kind's handlers,
so `kopf run -m eventwire_runtime.controller` and `eventwire-runtime controller` both work.

One reconciler per kind: `provisioner`, `channel`, `subscription`, `broker`, `trigger` and
`sources` (all six source kinds), each split into handlers (kopf glue), resources (pure builders), names and conditions.
Each writes only its own kind's status and children and reads other kinds from `cache` (kopf's
indexes); watch events reach dependents through each kind's work queue (`workqueue`), fed by
the kopf glue every kind shares (`reconciler.Reconciler`) and, for destinations and a Trigger's
dependency, `tracking`. `operator` holds the operator-wide hooks (startup, metrics endpoint,
cleanup).
"""

from eventwire_runtime.api import SOURCES_GROUP
from eventwire_runtime.controller import cache, operator
from eventwire_runtime.controller.broker import handlers as broker_handlers
from eventwire_runtime.controller.channel import handlers as channel_handlers
from eventwire_runtime.controller.context import load_settings
from eventwire_runtime.controller.provisioner import handlers as provisioner_handlers
from eventwire_runtime.controller.sources import handlers as source_handlers
from eventwire_runtime.controller.subscription import handlers as subscription_handlers
from eventwire_runtime.controller.trigger import handlers as trigger_handlers

cache.register()
for kind_handlers in (
    provisioner_handlers,
    channel_handlers,
    subscription_handlers,
    broker_handlers,
    trigger_handlers,
):
    kind_handlers.register()
source_handlers.register(load_settings().resync_seconds)
operator.register_ready_tracking(
    {
        provisioner_handlers.KIND: provisioner_handlers.PROVISIONERS,
        channel_handlers.KIND: channel_handlers.CHANNELS,
        subscription_handlers.KIND: subscription_handlers.SUBSCRIPTIONS,
        broker_handlers.KIND: broker_handlers.BROKERS,
        trigger_handlers.KIND: trigger_handlers.TRIGGERS,
        **{kind: (SOURCES_GROUP, plural) for kind, plural in source_handlers.SOURCE_KINDS.items()},
    }
)

__all__ = [
    "broker_handlers",
    "channel_handlers",
    "operator",
    "provisioner_handlers",
    "source_handlers",
    "subscription_handlers",
    "trigger_handlers",
]
