"""kopf glue for ClusterChannelProvisioners: the status follows the spec and whether the
dispatcher Service exists (from the cache). The reconcile runs, through the kind's work queue, on
every watch event of the provisioner and of Services in the system namespace; Channels follow a
provisioner through their own reconciler's watch."""

from __future__ import annotations

from typing import Any

from eventwire_runtime.api import MESSAGING_GROUP
from eventwire_runtime.controller.context import Body, Context, instrumented, load_settings
from eventwire_runtime.controller.provisioner.names import dispatcher_service
from eventwire_runtime.controller.provisioner.resources import make_status
from eventwire_runtime.controller.reconciler import Reconciler

PROVISIONERS = (MESSAGING_GROUP, "clusterchannelprovisioners")
KIND = "ClusterChannelProvisioner"


@instrumented
async def reconcile(ctx: Context, body: Body) -> Body:
    """Compute and write the provisioner's status; returns the provisioner with it."""
    service = dispatcher_service(ctx.settings, body["metadata"]["name"])
    status = make_status(body, ctx.cache.service_exists(ctx.settings.system_namespace, service), ctx.settings)
    return await ctx.report(body, status)


RECONCILER: Reconciler[str] = Reconciler(
    KIND, PROVISIONERS, lambda meta: str(meta["name"]), lambda cache, name: cache.provisioner(name), reconcile
)


def _in_system_namespace(namespace: str | None, **_: Any) -> bool:
    return namespace == load_settings().system_namespace


def service_provisioners(ctx: Context, service: Body, type: str | None) -> list[str]:
    """A Service in the system namespace changed: the provisioner it dispatches for follows."""
    names = (provisioner["metadata"]["name"] for provisioner in ctx.cache.provisioners())
    return [name for name in names if dispatcher_service(ctx.settings, name) == service["metadata"]["name"]]


def register() -> None:
    """The provisioner reconciler's triggers (its `Reconciler` requeues those not Ready)."""
    RECONCILER.watch_self("provisioner")
    RECONCILER.watch(
        "provisioner_dispatcher_service",
        ("", "v1", "services"),
        service_provisioners,
        when=_in_system_namespace,
    )
