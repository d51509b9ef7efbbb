"""What scripts/e2e-kind.sh applies: examples/channel-fanout on a bare kind cluster, and the
small sink that stands in for its services.

    python scripts/e2e/topology.py --image <runtime image>   # YAML on stdout

From the example it keeps the Channels and Subscriptions and drops the GitHubSource (it needs
GitHub and a public webhook address; the e2e run posts events itself). The enricher is a Knative
Service there; without Knative it becomes a plain Service of the sink, which replies. The sink
(sink.py, with produce.py, from a ConfigMap) runs in the runtime image, which has Python.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parents[1] / "examples" / "channel-fanout" / "topology.yaml"
SINK = "e2e-sink"
SINK_PORT = 8080
# The Services the example's destinations name; all of them reach the sink.
SERVICES = ("audit", "enricher", "notifier", "dead-letters")
UID = 65532
KNATIVE_SERVICE = "serving.knative.dev/v1"


def example_objects() -> list[dict[str, Any]]:
    """The example's objects without the GitHubSource, Knative Services turned into v1 Services."""
    kept = []
    for document in yaml.safe_load_all(EXAMPLE.read_text()):
        if not document or document["kind"] == "GitHubSource":
            continue
        for field in ("subscriber", "reply"):
            ref = document.get("spec", {}).get(field, {}).get("ref")
            if ref and ref.get("apiVersion") == KNATIVE_SERVICE:
                ref["apiVersion"] = "v1"
        kept.append(document)
    return kept


def namespace_of(objects: list[dict[str, Any]]) -> str:
    namespaces = {o["metadata"]["namespace"] for o in objects}
    if len(namespaces) != 1:
        raise SystemExit(f"the example spans {sorted(namespaces)}; the e2e run expects one namespace")
    return namespaces.pop()


def sink_objects(namespace: str, image: str) -> list[dict[str, Any]]:
    labels = {"app.kubernetes.io/name": SINK}
    files = {name: (HERE / name).read_text() for name in ("sink.py", "produce.py")}
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": SINK, "namespace": namespace},
        "data": files,
    }
    container = {
        "name": "sink",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["python", "-u", "/e2e/sink.py"],
        "env": [{"name": "PORT", "value": str(SINK_PORT)}],
        "ports": [{"name": "http", "containerPort": SINK_PORT, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 2},
        "resources": {
            "requests": {"cpu": "20m", "memory": "32Mi"},
            "limits": {"cpu": "200m", "memory": "128Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
        },
        "volumeMounts": [{"name": "code", "mountPath": "/e2e", "readOnly": True}],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": SINK, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": UID,
                        "runAsGroup": UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "automountServiceAccountToken": False,
                    "containers": [container],
                    "volumes": [{"name": "code", "configMap": {"name": SINK}}],
                },
            },
        },
    }
    services = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "selector": labels,
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
            },
        }
        for name in SERVICES
    ]
    return [config_map, deployment, *services]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True, help="the runtime image (the sink runs in it)")
    args = parser.parse_args(argv)
    example = example_objects()
    documents = [*sink_objects(namespace_of(example), args.image), *example]
    sys.stdout.write(yaml.safe_dump_all(documents, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
