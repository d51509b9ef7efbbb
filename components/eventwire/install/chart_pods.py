"""The pods the NATS Helm chart (1.3.x) renders from its values, modelled as far as the Pod
Security Standards look: containers, their ports, securityContexts and the pod's volumes.

Modelled rather than rendered because Helm is not here (the Pulumi provider embeds it). Read
from the chart's templates at tag nats-1.3.7 (helm/charts/nats/files/stateful-set/*.yaml,
files/nats-box/deployment/*.yaml): the chart sets no securityContext itself; each container's
comes only from its `merge` block (`container`, `reloader`, `promExporter`,
`natsBox.container`), the pod's from `podTemplate.merge.spec` (`natsBox.podTemplate.merge.spec`),
merged over what the template renders. JSON `patch` blocks are not modelled: values that use them
are reported instead of guessed at.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The chart's defaults for what decides which containers exist (values.yaml at nats-1.3.7).
_DEFAULTS: dict[str, Any] = {
    "reloader": {"enabled": True},
    "promExporter": {"enabled": False, "port": 7777},
    "natsBox": {"enabled": True},
    "config": {"nats": {"port": 4222}, "monitor": {"enabled": True, "port": 8222}},
}
_PATCHABLE = (
    ("container",),
    ("reloader",),
    ("promExporter",),
    ("podTemplate",),
    ("statefulSet",),
    ("natsBox", "container"),
    ("natsBox", "podTemplate"),
    ("natsBox", "deployment"),
)


def nats_chart_pods(values: Mapping[str, Any]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """({workload: pod spec}, problems) for the NATS chart with `values`; a problem names a
    values block the model cannot follow."""
    merged = deep_merge(_DEFAULTS, values)
    problems = [
        f"values.{'.'.join(path)}.patch: JSON patches are not modelled; use `merge`"
        for path in _PATCHABLE
        if _get(merged, *path, "patch")
    ]
    config = merged["config"]
    nats_ports = [{"name": "nats", "containerPort": config["nats"]["port"]}]
    if config["monitor"].get("enabled"):
        nats_ports.append({"name": "monitor", "containerPort": config["monitor"]["port"]})
    containers = [_container("nats", nats_ports, _get(merged, "container", "merge"))]
    if merged["reloader"].get("enabled"):
        containers.append(_container("reloader", [], _get(merged, "reloader", "merge")))
    if merged["promExporter"].get("enabled"):
        exporter_ports = [{"name": "prom-metrics", "containerPort": merged["promExporter"]["port"]}]
        containers.append(_container("prom-exporter", exporter_ports, _get(merged, "promExporter", "merge")))
    volumes: list[dict[str, Any]] = [{"name": "config", "configMap": {}}, {"name": "pid", "emptyDir": {}}]
    if _get(merged, "config", "jetstream", "enabled"):
        volumes.append({"name": "jetstream", "persistentVolumeClaim": {"claimName": "jetstream"}})
    stateful = deep_merge(
        {
            "containers": containers,
            "enableServiceLinks": False,
            "shareProcessNamespace": bool(merged["reloader"].get("enabled")),
            "volumes": volumes,
        },
        _get(merged, "podTemplate", "merge", "spec") or {},
    )
    pods = {"StatefulSet nats": stateful}
    if merged["natsBox"].get("enabled"):
        box = _container("nats-box", [], _get(merged, "natsBox", "container", "merge"))
        pods["Deployment nats-box"] = deep_merge(
            {"containers": [box], "enableServiceLinks": False},
            _get(merged, "natsBox", "podTemplate", "merge", "spec") or {},
        )
    return pods, problems


def _container(name: str, ports: list[dict[str, Any]], merge: Any) -> dict[str, Any]:
    return deep_merge({"name": name, "ports": ports}, merge or {})


def _get(node: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` over `base`: maps merge key by key, anything else (lists too) is replaced, as
    Helm merges values."""
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = value
    return result
