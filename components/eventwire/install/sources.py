"""EventSources: what the enabled source kinds need cluster-wide.

- RBAC that lets namespace users manage the enabled sources (ClusterRoles aggregated into the
  built-in `edit` and `view` roles);
- default Secrets from Pulumi secrets: the GitHub webhook secret, AWS credentials (a shared
  credentials file) and a Google service account key, for sources that refer to them;
- for GitHubSource, a webhook ingress through the Istio ingress gateway (`*.<webhook_domain>`).

The adapters themselves are created per source object by the controller.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, NotRequired, TypedDict, cast

import pulumi

from eventwire import rbac
from eventwire.api.kinds import KINDS, SOURCES_GROUP
from eventwire.exceptions import ConfigError
from eventwire.install import runtime_contract as contract
from eventwire.install.kube import kube_object

SOURCE_KINDS: Final = tuple(kind.kind for kind in KINDS if kind.group == SOURCES_GROUP)

# Secret name, key, and the kind that uses it.
GITHUB_SECRET: Final = ("github-webhook", "secret")
AWS_SECRET: Final = ("aws-credentials", "credentials")
GCP_SECRET: Final = ("gcp-credentials", "key.json")


class EventSourcesArgs(TypedDict):
    """Arguments of EventSources."""

    kinds: Sequence[str]
    """The source kinds to enable (see SOURCE_KINDS)."""
    secrets_namespace: NotRequired[pulumi.Input[str]]
    """Where the default Secrets are created (the namespace of the sources using them); default `default`."""
    github_webhook_secret: NotRequired[pulumi.Input[str] | None]
    """The GitHub webhook secret (a Pulumi secret); becomes Secret github-webhook, key `secret`."""
    aws_credentials: NotRequired[pulumi.Input[str] | None]
    """An AWS shared credentials file (a Pulumi secret); Secret aws-credentials, key `credentials`."""
    gcp_credentials: NotRequired[pulumi.Input[str] | None]
    """A Google service account JSON key (a Pulumi secret); Secret gcp-credentials, key `key.json`."""
    webhook_domain: NotRequired[str]
    """DNS suffix under which GitHub reaches GitHubSource adapters; with GitHubSource it gets an
    Istio Gateway for `*.<domain>` (give EventingCore the same domain: its controller routes
    `<source>.<namespace>.<domain>` through that Gateway)."""
    gateway_namespace: NotRequired[str]
    """Namespace of the Istio ingress gateway (and of the webhook Gateway); default istio-system."""
    webhook_tls_secret: NotRequired[str]
    """A TLS Secret in gateway_namespace (Istio credentialName) whose certificate covers the
    webhook hosts `<source>.<namespace>.<domain>` (a `*.<domain>` wildcard does not: it covers one
    label); when set, the Gateway also serves HTTPS on 443, which sources with `secure: true`
    (an https URL at GitHub) need. Default: HTTP on 80 only."""


class EventSources(pulumi.ComponentResource):
    """Turns on source kinds. Outputs: `kinds`, `secret_names` (kind -> Secret name), `webhook_hosts`,
    `webhook_gateway` (`<namespace>/<name>` of the webhook Gateway, "" without one)."""

    kinds: pulumi.Output[list[str]]
    secret_names: pulumi.Output[dict[str, str]]
    webhook_hosts: pulumi.Output[list[str]]
    webhook_gateway: pulumi.Output[str]

    def __init__(self, name: str, args: EventSourcesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eventwire:index:EventSources", name, None, opts)
        kinds = list(dict.fromkeys(args["kinds"]))
        unknown = [kind for kind in kinds if kind not in SOURCE_KINDS]
        if unknown:
            raise ConfigError(f"EventSources kinds: {unknown} are not among {', '.join(SOURCE_KINDS)}")
        namespace = args.get("secrets_namespace", "default")
        child = pulumi.ResourceOptions(parent=self)

        for suffix, manifest in aggregated_roles(kinds):
            kube_object(f"{name}-{suffix}", manifest, child)

        secrets: dict[str, str] = {}
        for kind, key, (secret_name, secret_key) in (
            ("GitHubSource", "github_webhook_secret", GITHUB_SECRET),
            ("AwsSqsSource", "aws_credentials", AWS_SECRET),
            ("GcpPubSubSource", "gcp_credentials", GCP_SECRET),
        ):
            value = cast("pulumi.Input[str] | None", args.get(key))
            if value is None or kind not in kinds:
                continue
            manifest = credentials_secret(secret_name, namespace, secret_key, pulumi.Output.secret(value))
            kube_object(f"{name}-{secret_name}", manifest, child)
            secrets[kind] = secret_name

        hosts: list[str] = []
        gateway_ref = ""
        domain = args.get("webhook_domain", "")
        if "GitHubSource" in kinds and domain:
            hosts = [f"*.{domain}"]
            gateway_namespace = args.get("gateway_namespace", contract.DEFAULT_GATEWAY_NAMESPACE)
            gateway = webhook_gateway(gateway_namespace, hosts, args.get("webhook_tls_secret", ""))
            kube_object(f"{name}-webhook-gateway", gateway, child)
            kube_object(f"{name}-webhook-routes-role", webhook_routes_role(), child)
            gateway_ref = contract.webhook_gateway_ref(gateway_namespace)

        self.kinds = pulumi.Output.from_input(kinds)
        self.secret_names = pulumi.Output.from_input(secrets)
        self.webhook_hosts = pulumi.Output.from_input(hosts)
        self.webhook_gateway = pulumi.Output.from_input(gateway_ref)
        self.register_outputs(
            {"kinds": kinds, "secret_names": secrets, "webhook_hosts": hosts, "webhook_gateway": gateway_ref}
        )


def aggregated_roles(kinds: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
    """ClusterRoles that add the enabled sources to the built-in edit/admin and view roles."""
    plurals = sorted(f"{kind.lower()}s" for kind in kinds)
    if not plurals:
        return []
    return rbac.aggregated_user_roles("sources", SOURCES_GROUP, plurals)


def webhook_routes_role() -> dict[str, Any]:
    """Rights to route webhook hosts through the gateway (Istio VirtualServices), added to the
    controller's aggregated ClusterRole through the runtime's aggregation label."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": "eventwire-controller-webhook-routes",
            "labels": {"app.kubernetes.io/part-of": "eventwire", rbac.AGGREGATE_LABEL: "true"},
        },
        "rules": [{key: list(values) for key, values in rule.items()} for rule in rbac.WEBHOOK_ROUTE_RULES],
    }


def credentials_secret(
    name: str, namespace: pulumi.Input[str], key: str, value: pulumi.Input[str]
) -> dict[str, Any]:
    """An Opaque Secret holding one value under `key`."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "eventwire"},
        },
        "type": "Opaque",
        "stringData": {key: value},
    }


def webhook_gateway(namespace: str, hosts: Sequence[str], tls_secret: str = "") -> dict[str, Any]:
    """An Istio Gateway on the ingress gateway (istio: ingressgateway) for webhook hosts: HTTP on
    80, and with `tls_secret` (a TLS Secret in `namespace`) also HTTPS on 443, terminated there."""
    servers: list[dict[str, Any]] = [
        {"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": list(hosts)}
    ]
    if tls_secret:
        servers.append(
            {
                "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                "hosts": list(hosts),
                "tls": {"mode": "SIMPLE", "credentialName": tls_secret},
            }
        )
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": {"name": contract.WEBHOOK_GATEWAY_NAME, "namespace": namespace},
        "spec": {"selector": {"istio": "ingressgateway"}, "servers": servers},
    }
