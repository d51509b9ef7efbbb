"""Knative Serving with the Istio networking layer, from the official release manifests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from eventwire.exceptions import ConfigError
from eventwire.install.versions import DEFAULT_KNATIVE_VERSION, net_istio_release_url, serving_release_url

SERVING_NAMESPACE = "knative-serving"
ISTIO_INGRESS_CLASS = "istio.ingress.networking.knative.dev"


class KnativeServingArgs(TypedDict):
    """Arguments of KnativeServing; every field is optional."""

    version: NotRequired[str]
    """Knative release, e.g. 1.22.0 (the default; its net-istio pins Istio 1.29.2)."""
    domain: NotRequired[pulumi.Input[str]]
    """The domain of Knative Service URLs (config-domain); Knative's default when unset."""
    istio: NotRequired[pulumi.Resource]
    """The Istio install that net-istio waits for (an Istio component, or any resource)."""


class KnativeServing(pulumi.ComponentResource):
    """serving-crds.yaml, then serving-core.yaml, then net-istio.yaml (after Istio), and the
    config-network/config-domain settings, all fetched from the release URLs of `version`.

    Outputs: `version`, `namespace`, `manifest_urls` (in install order).
    """

    version: pulumi.Output[str]
    namespace: pulumi.Output[str]
    manifest_urls: pulumi.Output[Sequence[str]]

    def __init__(
        self, name: str, args: KnativeServingArgs | None = None, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("eventwire:index:KnativeServing", name, None, opts)
        args = args or {}
        version = args.get("version", DEFAULT_KNATIVE_VERSION)
        if not version or not all(part.isdigit() for part in version.split(".")) or version.count(".") != 2:
            raise ConfigError(f"KnativeServing version: {version!r} is not a release such as 1.22.0")
        urls = [
            serving_release_url(version, "serving-crds.yaml"),
            serving_release_url(version, "serving-core.yaml"),
            net_istio_release_url(version),
        ]
        crds = k8s.yaml.v2.ConfigFile(f"{name}-crds", file=urls[0], opts=pulumi.ResourceOptions(parent=self))
        core = k8s.yaml.v2.ConfigFile(
            f"{name}-core", file=urls[1], opts=pulumi.ResourceOptions(parent=self, depends_on=[crds])
        )
        after_istio: list[pulumi.Resource] = [core]
        if "istio" in args:
            after_istio.append(args["istio"])
        k8s.yaml.v2.ConfigFile(
            f"{name}-net-istio",
            file=urls[2],
            opts=pulumi.ResourceOptions(parent=self, depends_on=after_istio),
        )
        self._config_patch(name, "config-network", {"ingress-class": ISTIO_INGRESS_CLASS}, core)
        if args.get("domain") is not None:
            # config-domain maps a domain to the services it applies to; an empty selector means all.
            domain = pulumi.Output.from_input(args["domain"])
            self._config_patch(name, "config-domain", domain.apply(lambda d: {d: ""}), core)

        self.version = pulumi.Output.from_input(version)
        self.namespace = pulumi.Output.from_input(SERVING_NAMESPACE)
        self.manifest_urls = pulumi.Output.from_input(urls)
        self.register_outputs({"version": self.version, "namespace": self.namespace, "manifest_urls": urls})

    def _config_patch(
        self, name: str, config_map: str, data: pulumi.Input[dict[str, str]], core: pulumi.Resource
    ) -> None:
        # serving-core creates the ConfigMap; a server-side-apply patch owns just our keys.
        k8s.core.v1.ConfigMapPatch(
            f"{name}-{config_map}",
            metadata={
                "name": config_map,
                "namespace": SERVING_NAMESPACE,
                "annotations": {"pulumi.com/patchForce": "true"},
            },
            data=data,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[core]),
        )
