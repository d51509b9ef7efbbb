"""How each source runs on this machine: the runtime's adapter as a process, or why it cannot.

The adapter's environment is the one the controller gives its Deployment (`common_env` plus the
kind's `kinds.adapter_for`), minus what only exists in a cluster: Secret references (a local
GitHub webhook secret is generated instead) and files mounted from Secrets (the adapter then
uses the user's own cloud credentials, as the SDKs find them).
"""

from __future__ import annotations

import os
import secrets
import shlex
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eventwire_runtime.controller.sources import kinds
from eventwire_runtime.controller.sources.resources import common_env
from eventwire_runtime.devmode.topology import LocalAddresses, key

LOOPBACK = "127.0.0.1"
ADAPTER = [sys.executable, "-m", "eventwire_runtime", "adapter"]


@dataclass(frozen=True)
class SourceOptions:
    """What lets cloud and cluster sources run locally (each None when not given)."""

    kubeconfig: str | None = None
    sqs_endpoint: str | None = None
    pubsub_emulator: str | None = None


@dataclass
class SourcePlan:
    """One process to start for a source (`argv` None: not run, `reason` says why)."""

    source: dict[str, Any]
    argv: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    note: str = ""
    webhook_url: str = ""  # GitHubSource: where `dev send --github` posts
    webhook_secret: str = ""

    @property
    def label(self) -> str:
        return f"{self.source['kind']} {key(self.source)}"


def _plain_env(entries: list[dict[str, Any]], secret_values: Mapping[str, str]) -> dict[str, str]:
    """Env entries as a dict: values kept, Secret references replaced from `secret_values` (by
    variable name), files mounted from Secrets dropped (they do not exist here)."""
    env = {}
    for entry in entries:
        name = entry["name"]
        if "value" in entry:
            if str(entry["value"]).startswith(kinds.SECRETS_ROOT):
                continue
            env[name] = str(entry["value"])
        elif name in secret_values:
            env[name] = secret_values[name]
    return env


def plan_source(
    source: dict[str, Any], addresses: LocalAddresses, options: SourceOptions, free_port: Callable[[], int]
) -> SourcePlan:
    """How to run `source` here (see the module docstring)."""
    plan = SourcePlan(source)
    meta, spec = source["metadata"], source.get("spec") or {}
    sink = addresses.resolve(spec.get("sink"), meta["namespace"])
    if not sink.ok:
        plan.reason = f"its sink does not resolve: {sink.message}"
        return plan
    dead_letter = None
    if (spec.get("delivery") or {}).get("deadLetterSink"):
        resolved = addresses.resolve(spec["delivery"]["deadLetterSink"], meta["namespace"])
        dead_letter = resolved.uri if resolved.ok else None
    common = {
        **_plain_env(common_env(source, sink.uri, dead_letter), {}),
        "METRICS_PORT": "0",
        "LISTEN_ADDRESS": LOOPBACK,  # webhook receiver and metrics: not reachable from the network
    }
    kind = source["kind"]
    if kind == "ContainerSource":
        return _container(plan, common)
    secret_values: dict[str, str] = {}
    if kind == "GitHubSource":
        plan.webhook_secret = secrets.token_hex(20)
        secret_values["GITHUB_SECRET_TOKEN"] = plan.webhook_secret
    try:
        settings = kinds.adapter_for(source, [meta["namespace"]])
    except ValueError as exc:  # a kind this runtime has no adapter for
        plan.reason = str(exc)
        return plan
    env = {**common, **_plain_env(settings.env, secret_values)}
    if kind == "GitHubSource":
        port = free_port()
        env["PORT"] = str(port)
        plan.webhook_url = f"http://{LOOPBACK}:{port}/"
        plan.note = f"webhook at {plan.webhook_url} (try: eventwire dev send --github push)"
    elif kind == "PingSource":
        zone = f" ({spec['timezone']})" if spec.get("timezone") else ""
        plan.note = f"schedule {spec.get('schedule')}{zone}"
    elif kind == "ApiServerSource":
        if not options.kubeconfig:
            plan.reason = "it watches a Kubernetes API server: pass --kubeconfig PATH to run it"
            return plan
        env["KUBECONFIG"] = options.kubeconfig
    elif kind == "AwsSqsSource":
        endpoint = options.sqs_endpoint or spec.get("endpointUrl")
        if not endpoint:
            plan.reason = (
                "it reads a real AWS SQS queue: pass --sqs-endpoint URL (moto_server, LocalStack) to run it"
            )
            return plan
        env["SQS_ENDPOINT_URL"] = str(endpoint)
        plan.note = f"SQS at {endpoint}, with your own AWS credentials"
    elif kind == "GcpPubSubSource":
        emulator = options.pubsub_emulator or os.environ.get("PUBSUB_EMULATOR_HOST")
        if not emulator:
            plan.reason = (
                "it reads Google Cloud Pub/Sub: pass --pubsub-emulator HOST:PORT "
                "(gcloud beta emulators pubsub start) to run it"
            )
            return plan
        env["PUBSUB_EMULATOR_HOST"] = emulator
        plan.note = f"Pub/Sub emulator at {emulator}"
    plan.argv = [*ADAPTER, settings.command]
    plan.env = env
    return plan


def _is_runtime_image(image: str) -> bool:
    """The eventwire runtime image, whose entrypoint is `eventwire-runtime` (runnable from here)."""
    repository = image.rsplit("@", 1)[0].rsplit(":", 1)[0] if "/" in image else image.split(":", 1)[0]
    return repository.endswith(("eventwire-runtime", "eventwire/runtime"))


def _container(plan: SourcePlan, common: dict[str, str]) -> SourcePlan:
    """ContainerSource: no container engine is used; a container runs as a process when its
    command is given, or when it is the eventwire runtime image (its entrypoint is ours)."""
    containers = (((plan.source.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
        "containers"
    ) or []
    if len(containers) != 1:
        plan.reason = "eventwire dev runs a ContainerSource with exactly one container"
        return plan
    container = containers[0]
    args = [str(a) for a in container.get("args") or []]
    if container.get("command"):
        argv = [str(c) for c in container["command"]] + args
        plan.note = f"runs {shlex.join(argv)}"
    elif _is_runtime_image(str(container.get("image", ""))):
        argv = [*ADAPTER[:3], *args]  # python -m eventwire_runtime: the image's entrypoint
        plan.note = f"runs eventwire-runtime {shlex.join(args)}"
    else:
        plan.reason = (
            f"no container engine is used and container {container.get('name')!r} gives no command "
            f"to run (image {container.get('image')!r})"
        )
        return plan
    own = {e["name"]: str(e["value"]) for e in container.get("env") or [] if "value" in e}
    plan.argv, plan.env = argv, {**own, **common}
    return plan
