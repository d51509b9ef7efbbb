"""Pinned upstream versions and where their artifacts come from (nothing is vendored).

Istio 1.29.2 is what net-istio for Knative 1.22 pins; bump both together.
"""

from __future__ import annotations

from typing import Final

DEFAULT_ISTIO_VERSION: Final = "1.29.2"
ISTIO_CHART_REPOSITORY: Final = "https://istio-release.storage.googleapis.com/charts"
# The gateway release name that net-istio's default gateway selects (istio: ingressgateway).
ISTIO_GATEWAY_RELEASE: Final = "istio-ingressgateway"

DEFAULT_KNATIVE_VERSION: Final = "1.22.0"
_SERVING_RELEASES: Final = "https://github.com/knative/serving/releases/download/knative-v{version}"
_NET_ISTIO_RELEASES: Final = "https://github.com/knative/net-istio/releases/download/knative-v{version}"

NATS_CHART_REPOSITORY: Final = "https://nats-io.github.io/k8s/helm/charts/"
DEFAULT_NATS_CHART_VERSION: Final = "1.3.7"
DEFAULT_REDIS_IMAGE: Final = "docker.io/library/redis:7.4.2-alpine"


def serving_release_url(version: str, manifest: str) -> str:
    """The official URL of a Knative Serving release manifest, e.g. serving-core.yaml."""
    return f"{_SERVING_RELEASES.format(version=version)}/{manifest}"


def net_istio_release_url(version: str) -> str:
    """The official URL of net-istio.yaml for a Knative release."""
    return f"{_NET_ISTIO_RELEASES.format(version=version)}/net-istio.yaml"
