"""The controller's settings, parsed once from the environment at startup.

Environment (all optional; the Pulumi install sets them on the controller Deployment):

    EVENTWIRE_RUNTIME_IMAGE         the image adapters run (`eventwire-runtime adapter <kind>`);
                                    default `ghcr.io/eventwire/runtime:latest`.
    EVENTWIRE_IMAGE_PULL_POLICY     imagePullPolicy of adapter containers; default IfNotPresent.
    EVENTWIRE_SYSTEM_NAMESPACE      where the dispatchers' Services live; default eventwire-system.
    EVENTWIRE_DISPATCHER_SERVICE    the dispatcher Service name of a provisioner, `{provisioner}`
                                    is replaced by its name; default `eventwire-dispatcher-{provisioner}`.
    EVENTWIRE_CLUSTER_DOMAIN        the cluster DNS domain; default cluster.local.
    EVENTWIRE_WEBHOOK_DOMAIN        the DNS suffix under which GitHub reaches GitHubSource adapters
                                    from outside the cluster: each source gets an Istio
                                    VirtualService for `<source>.<namespace>.<domain>` through
                                    EVENTWIRE_WEBHOOK_GATEWAY, and that URL is registered with
                                    GitHub. Default unset: no VirtualService, the webhook URL is the
                                    adapter Service's in-cluster name
                                    `<service>.<namespace>.svc.<cluster domain>`.
    EVENTWIRE_WEBHOOK_GATEWAY       the Istio Gateway those VirtualServices bind to,
                                    `<namespace>/<name>`; default istio-system/eventwire-webhooks
                                    (the Gateway the Pulumi install creates).
    EVENTWIRE_RESYNC_SECONDS        how often objects that are not Ready are reconciled again, for
                                    targets the controller cannot watch; default 30.
    EVENTWIRE_ADAPTER_METRICS_PORT  the adapters' metrics/health port (their METRICS_PORT); default 9090.
    EVENTWIRE_GITHUB_TIMEOUT        seconds per GitHub API request; default 10.
    EVENTWIRE_METRICS_PORT          the TCP port of the Prometheus endpoint `GET /metrics`
                                    (reconciles, durations, resources by Ready status, API
                                    errors; see `metrics`); default 9090, 0 turns it off.
    EVENTWIRE_METRICS_ADDRESS       the address that endpoint binds; default 0.0.0.0 (all).
    EVENTWIRE_PEERING               the name of the ClusterKopfPeering (kopf.dev/v1) through which
                                    several controller replicas agree that exactly one of them is
                                    active (the oldest; the others stand by, paused); see
                                    `peering`. With --namespace, a KopfPeering of that name in each
                                    namespace. Default unset: standalone (one replica only, no
                                    peering objects needed).
    EVENTWIRE_PEERING_LIFETIME      seconds a replica's keep-alive in the peering object stays
                                    valid: a standby takes over at most this long after the active
                                    replica dies without notice (at once when it stops cleanly);
                                    default 30, at least 2.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from eventwire_runtime.delivery.errors import ConfigError

DEFAULT_IMAGE = "ghcr.io/eventwire/runtime:latest"


class SettingsError(ConfigError):
    """An environment variable of the controller is invalid; the message names it."""


@dataclass(frozen=True)
class ControllerSettings:
    """What the controller needs to know about its installation. Defaults as in the module doc."""

    image: str = DEFAULT_IMAGE
    image_pull_policy: str = "IfNotPresent"
    system_namespace: str = "eventwire-system"
    dispatcher_service: str = "eventwire-dispatcher-{provisioner}"
    cluster_domain: str = "cluster.local"
    webhook_domain: str = ""
    webhook_gateway: str = "istio-system/eventwire-webhooks"
    resync_seconds: float = 30.0
    adapter_metrics_port: int = 9090
    github_timeout: float = 10.0
    metrics_port: int = 9090
    metrics_address: str = "0.0.0.0"
    peering: str = ""
    peering_lifetime: int = 30

    @property
    def service_domain(self) -> str:
        """`svc.<cluster domain>`: the suffix of `<service>.<namespace>` host names."""
        return f"svc.{self.cluster_domain}"

    def dispatcher_service_name(self, provisioner: str) -> str:
        return self.dispatcher_service.replace("{provisioner}", provisioner)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ControllerSettings:
        """Parse the variables in the module docstring.

        Raises:
            SettingsError: naming the variable that is invalid.
        """
        defaults = cls()

        def text(name: str, default: str) -> str:
            return environ.get(name, "").strip() or default

        def number(name: str, default: float, minimum: float) -> float:
            raw = environ.get(name, "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise SettingsError(f"{name} must be a number, got {raw!r}") from None
            if not math.isfinite(value) or value < minimum:
                raise SettingsError(f"{name} must be at least {minimum}, got {raw!r}")
            return value

        pull_policy = text("EVENTWIRE_IMAGE_PULL_POLICY", defaults.image_pull_policy)
        if pull_policy not in {"Always", "IfNotPresent", "Never"}:
            raise SettingsError(
                f"EVENTWIRE_IMAGE_PULL_POLICY must be Always, IfNotPresent or Never, got {pull_policy!r}"
            )
        cluster_domain = text("EVENTWIRE_CLUSTER_DOMAIN", defaults.cluster_domain).strip(".")

        def port_number(name: str, default: int, minimum: int) -> int:
            port = number(name, default, minimum)
            if port > 65535 or port != int(port):
                raise SettingsError(f"{name} must be a port number, got {port}")
            return int(port)

        port = port_number("EVENTWIRE_ADAPTER_METRICS_PORT", defaults.adapter_metrics_port, 1)
        gateway = text("EVENTWIRE_WEBHOOK_GATEWAY", defaults.webhook_gateway)
        if not _is_gateway_ref(gateway):
            raise SettingsError(
                f"EVENTWIRE_WEBHOOK_GATEWAY must be <namespace>/<name> of an Istio Gateway, got {gateway!r}"
            )
        peering = text("EVENTWIRE_PEERING", "")
        if peering and not _DNS_SUBDOMAIN.match(peering):
            raise SettingsError(f"EVENTWIRE_PEERING must be a Kubernetes object name, got {peering!r}")
        lifetime = number("EVENTWIRE_PEERING_LIFETIME", defaults.peering_lifetime, 2)
        if lifetime != int(lifetime):
            raise SettingsError(f"EVENTWIRE_PEERING_LIFETIME must be whole seconds, got {lifetime}")
        return cls(
            image=text("EVENTWIRE_RUNTIME_IMAGE", defaults.image),
            image_pull_policy=pull_policy,
            system_namespace=text("EVENTWIRE_SYSTEM_NAMESPACE", defaults.system_namespace),
            dispatcher_service=text("EVENTWIRE_DISPATCHER_SERVICE", defaults.dispatcher_service),
            cluster_domain=cluster_domain,
            webhook_domain=text("EVENTWIRE_WEBHOOK_DOMAIN", "").strip(".").lower(),
            webhook_gateway=gateway,
            resync_seconds=number("EVENTWIRE_RESYNC_SECONDS", defaults.resync_seconds, 1),
            adapter_metrics_port=port,
            github_timeout=number("EVENTWIRE_GITHUB_TIMEOUT", defaults.github_timeout, 0.1),
            metrics_port=port_number("EVENTWIRE_METRICS_PORT", defaults.metrics_port, 0),
            metrics_address=text("EVENTWIRE_METRICS_ADDRESS", defaults.metrics_address),
            peering=peering,
            peering_lifetime=int(lifetime),
        )


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _is_gateway_ref(ref: str) -> bool:
    """`<namespace>/<name>`, both DNS labels (Istio also accepts a bare name, meaning the
    VirtualService's own namespace, which is never right for a shared gateway)."""
    namespace, _, name = ref.partition("/")
    return bool(_DNS_LABEL.match(namespace)) and bool(_DNS_LABEL.match(name))
