"""The typed stack configuration of the eventwire program (infra/__main__.py).

Every key is declared with its type and default in Pulumi.yaml; KEYS lists the keys this module
reads, and a test keeps the two equal. Secrets (GitHub webhook secret, AWS and GCP credentials)
must be set with `pulumi config set --secret`; a plaintext value is rejected.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

import pulumi
from pulumi.runtime.config import get_config as raw_config
from pulumi.runtime.config import is_config_secret

from eventwire.exceptions import ConfigError

PROJECT: Final = "eventwire"

# key -> Pulumi.yaml type
KEYS: Final[dict[str, str]] = {
    "namespace": "string",
    "kubeContext": "string",
    "renderYamlTo": "string",
    "installIstio": "boolean",
    "istioVersion": "string",
    "istiodReplicas": "integer",
    "gatewayReplicas": "integer",
    "gatewayServiceType": "string",
    "meshMtlsMode": "string",
    "installKnativeServing": "boolean",
    "knativeVersion": "string",
    "domain": "string",
    "imageRepository": "string",
    "imageTag": "string",
    "imageDigest": "string",
    "buildImage": "boolean",
    "controllerReplicas": "integer",
    "dispatcherReplicas": "integer",
    "resourceProfile": "string",
    "provisioners": "array",
    "installBrokers": "boolean",
    "natsChartVersion": "string",
    "brokerReplicas": "integer",
    "brokerStorageSize": "string",
    "strictMtls": "boolean",
    "networkPolicies": "boolean",
    "retainCrdsOnDelete": "boolean",
    "sources": "array",
    "githubWebhookHost": "string",
    "githubWebhookTlsSecret": "string",
    "channels": "array",
    "channelNamespace": "string",
    "createChannelNamespace": "boolean",
    "defaultBrokerNamespaces": "array",
    "githubWebhookSecret": "string",
    "awsCredentials": "string",
    "gcpCredentials": "string",
}
SECRET_KEYS: Final = ("githubWebhookSecret", "awsCredentials", "gcpCredentials")
# An OCI image digest as registries report it (the release workflow prints it).
IMAGE_DIGEST: Final = re.compile(r"sha256:[0-9a-f]{64}")
_SET_DIGEST: Final = (
    f"set the digest the release workflow printed (pulumi config set {PROJECT}:imageDigest "
    "sha256:<the digest the release workflow printed>), or pull by tag "
    f"(pulumi config rm {PROJECT}:imageDigest; {PROJECT}:imageTag names the release)"
)
# Namespaces every cluster has: the install never creates (or deletes) them.
BUILT_IN_NAMESPACES: Final = ("default", "kube-system", "kube-public", "kube-node-lease")


@dataclass(frozen=True)
class StackSettings:
    """One stack's settings, parsed and checked (see Pulumi.yaml for each key's meaning)."""

    namespace: str
    kube_context: str
    render_yaml_to: str
    install_istio: bool
    istio_version: str
    istiod_replicas: int
    gateway_replicas: int
    gateway_service_type: str
    mesh_mtls_mode: str
    install_knative_serving: bool
    knative_version: str
    domain: str
    image_repository: str
    image_tag: str
    image_digest: str
    build_image: bool
    controller_replicas: int
    dispatcher_replicas: int
    resource_profile: str
    provisioners: tuple[str, ...]
    install_brokers: bool
    nats_chart_version: str
    broker_replicas: int
    broker_storage_size: str
    strict_mtls: bool
    network_policies: bool
    retain_crds_on_delete: bool
    sources: tuple[str, ...]
    github_webhook_host: str
    github_webhook_tls_secret: str
    channels: tuple[str, ...]
    channel_namespace: str
    create_channel_namespace: bool
    default_broker_namespaces: tuple[str, ...]
    github_webhook_secret: pulumi.Output[str] | None
    aws_credentials: pulumi.Output[str] | None
    gcp_credentials: pulumi.Output[str] | None

    @property
    def image(self) -> str:
        """The runtime image reference: by digest when one is pinned, else by tag."""
        if self.image_digest:
            return f"{self.image_repository}@{self.image_digest}"
        return f"{self.image_repository}:{self.image_tag}"

    @property
    def creates_channel_namespace(self) -> bool:
        """Whether the program creates channelNamespace: asked to, and it is neither built in
        nor the system namespace (which EventingCore creates)."""
        return (
            self.create_channel_namespace
            and self.channel_namespace not in BUILT_IN_NAMESPACES
            and self.channel_namespace != self.namespace
        )


def load(config: pulumi.Config | None = None) -> StackSettings:
    """Read and check every key; ConfigError names the first bad key."""
    config = config or pulumi.Config(PROJECT)
    reader = _Reader(config)
    settings = StackSettings(
        namespace=reader.string("namespace"),
        kube_context=reader.string("kubeContext"),
        render_yaml_to=reader.string("renderYamlTo"),
        install_istio=reader.boolean("installIstio"),
        istio_version=reader.string("istioVersion"),
        istiod_replicas=reader.integer("istiodReplicas", minimum=1),
        gateway_replicas=reader.integer("gatewayReplicas", minimum=1),
        gateway_service_type=reader.string("gatewayServiceType"),
        mesh_mtls_mode=reader.string("meshMtlsMode"),
        install_knative_serving=reader.boolean("installKnativeServing"),
        knative_version=reader.string("knativeVersion"),
        domain=reader.string("domain"),
        image_repository=reader.string("imageRepository"),
        image_tag=reader.string("imageTag"),
        image_digest=reader.string("imageDigest"),
        build_image=reader.boolean("buildImage"),
        controller_replicas=reader.integer("controllerReplicas", minimum=1),
        dispatcher_replicas=reader.integer("dispatcherReplicas", minimum=1),
        resource_profile=reader.string("resourceProfile"),
        provisioners=reader.strings("provisioners"),
        install_brokers=reader.boolean("installBrokers"),
        nats_chart_version=reader.string("natsChartVersion"),
        broker_replicas=reader.integer("brokerReplicas", minimum=1),
        broker_storage_size=reader.string("brokerStorageSize"),
        strict_mtls=reader.boolean("strictMtls"),
        network_policies=reader.boolean("networkPolicies"),
        retain_crds_on_delete=reader.boolean("retainCrdsOnDelete"),
        sources=reader.strings("sources"),
        github_webhook_host=reader.string("githubWebhookHost"),
        github_webhook_tls_secret=reader.string("githubWebhookTlsSecret"),
        channels=reader.strings("channels"),
        channel_namespace=reader.string("channelNamespace"),
        create_channel_namespace=reader.boolean("createChannelNamespace"),
        default_broker_namespaces=reader.strings("defaultBrokerNamespaces"),
        github_webhook_secret=reader.secret("githubWebhookSecret"),
        aws_credentials=reader.secret("awsCredentials"),
        gcp_credentials=reader.secret("gcpCredentials"),
    )
    if settings.image_digest:
        check_image_digest(settings.image_digest)
    if not settings.provisioners:
        raise ConfigError(f"{PROJECT}:provisioners: name at least one channel provisioner type")
    return settings


def check_image_digest(digest: str) -> None:
    """Reject what no registry would serve: a malformed digest, or the all-zero placeholder."""
    if not IMAGE_DIGEST.fullmatch(digest):
        raise ConfigError(
            f"{PROJECT}:imageDigest: {digest!r} is not a digest (sha256: and 64 hex digits); {_SET_DIGEST}"
        )
    if set(digest.removeprefix("sha256:")) == {"0"}:
        raise ConfigError(
            f"{PROJECT}:imageDigest: {digest!r} is the all-zero placeholder, not a pushed image; {_SET_DIGEST}"
        )


class _Reader:
    def __init__(self, config: pulumi.Config):
        self.config = config

    def _raw(self, key: str) -> str:
        value = self.config.get(key)
        if value is None:
            raise ConfigError(f"{PROJECT}:{key} is not set (Pulumi.yaml declares its default)")
        return value

    def string(self, key: str) -> str:
        return self._raw(key)

    def boolean(self, key: str) -> bool:
        raw = self._raw(key).strip().lower()
        if raw not in ("true", "false"):
            raise ConfigError(f"{PROJECT}:{key}: {raw!r} is not true or false")
        return raw == "true"

    def integer(self, key: str, minimum: int) -> int:
        raw = self._raw(key)
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{PROJECT}:{key}: {raw!r} is not an integer") from None
        if value < minimum:
            raise ConfigError(f"{PROJECT}:{key}: {value} is below the minimum {minimum}")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        raw = self._raw(key)
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            raise ConfigError(f"{PROJECT}:{key}: {raw!r} is not a list") from None
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{PROJECT}:{key}: must be a list of strings, got {raw!r}")
        return tuple(value)

    def secret(self, key: str) -> pulumi.Output[str] | None:
        if not raw_config(f"{PROJECT}:{key}"):
            return None
        if not is_config_secret(f"{PROJECT}:{key}"):
            raise ConfigError(
                f"{PROJECT}:{key} holds a plaintext value; set it with `pulumi config set --secret`"
            )
        return self.config.require_secret(key)
