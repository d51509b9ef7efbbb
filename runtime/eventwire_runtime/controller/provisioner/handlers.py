"""kopf glue for ClusterChannelProvisioners: the status follows the spec and whether the
dispatcher Service exists (from the cache). The reconcile runs, through the kind's work queue, on
every watch event of the provisioner and of Services in the system namespace; Channels follow a
provisioner through their own reconciler's watch."""

from __future__ import annotations

from typing import Any

import kopf

from eventwire_runtime.api import MESSAGING_GROUP
from eventwire_runtime.controller.context import Body, Context, ctx_of, instrumented, load_settings
from eventwire_runtime.controller.provisioner.names import dispatcher_service
from eventwire_runtime.controller.provisioner.resources import make_status
from eventwire_runtime.controller.reconciler import Reconciler
from eventwire_runtime.controller.workqueue import WorkQueue

PROVISIONERS = (MESSAGING_GROUP, "clusterchannelprovisioners")
KIND = "ClusterChannelProvisioner"


@instrumented
async def reconcile(ctx: Context, body: Body) -> Body:
    """Compute and write the provisioner's status; returns the provisioner with it."""
    service = dispatcher_service(ctx.settings, body["metadata"]["name"])
    status = make_status(body, ctx.cache.service_exists(ctx.settings.system_namespace, service), ctx.settings)
    await ctx.write_status(body, status)
    ctx.warn_on_failure(body, status)
    return {**body, "status": status}


RECONCILER: Reconciler[str] = Reconciler(KIND, lambda cache, name: cache.provisioner(name), reconcile)


def queue_of(memo: Any) -> WorkQueue[str]:
    return RECONCILER.queue(memo)


async def provisioner_event(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    RECONCILER.own_event(memo, body["metadata"]["name"], type, body)


def _in_system_namespace(namespace: str | None, **_: Any) -> bool:
    return namespace == load_settings().system_namespace


async def dispatcher_service_event(name: str, memo: kopf.Memo, **_: Any) -> None:
    """A Service in the system namespace changed: reconcile the provisioner it dispatches for."""
    ctx = ctx_of(memo)
    for provisioner in ctx.cache.provisioners():
        if dispatcher_service(ctx.settings, provisioner["metadata"]["name"]) == name:
            queue_of(memo).add(provisioner["metadata"]["name"])


def register() -> None:
    """The provisioner reconciler's triggers (its `Reconciler` requeues those not Ready)."""
    kopf.on.event(*PROVISIONERS, id="provisioner")(provisioner_event)
    kopf.on.event("", "v1", "services", id="provisioner_dispatcher_service", when=_in_system_namespace)(
        dispatcher_service_event
    )
