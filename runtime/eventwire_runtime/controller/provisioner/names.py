"""Names derived from a ClusterChannelProvisioner."""

from __future__ import annotations

from eventwire_runtime.controller.settings import ControllerSettings


def dispatcher_service(settings: ControllerSettings, provisioner: str) -> str:
    """The dispatcher Service of `provisioner` (installed by the Pulumi EventingCore)."""
    return settings.dispatcher_service_name(provisioner)


def dispatcher_host(settings: ControllerSettings, provisioner: str) -> str:
    """The in-cluster host name of the provisioner's dispatcher Service."""
    return (
        f"{dispatcher_service(settings, provisioner)}.{settings.system_namespace}.{settings.service_domain}"
    )


def dispatcher_url(settings: ControllerSettings, provisioner: str) -> str:
    """The URL of the provisioner's dispatcher Service (port 80): `http://<host>`."""
    return f"http://{dispatcher_host(settings, provisioner)}"
