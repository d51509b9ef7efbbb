"""Pure functions: a ClusterChannelProvisioner's settings check and its desired status."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eventwire_runtime.controller.channel.names import explicit_host_suffix
from eventwire_runtime.controller.conditions import now_rfc3339
from eventwire_runtime.controller.provisioner import conditions as cond
from eventwire_runtime.controller.provisioner.names import dispatcher_host, dispatcher_url
from eventwire_runtime.controller.settings import ControllerSettings

TYPES = {"in-memory": "inMemory", "jetstream": "jetstream", "redis": "redis"}
URL_SCHEMES = {"jetstream": ("nats://", "tls://", "ws://", "wss://"), "redis": ("redis://", "rediss://")}


def settings_errors(spec: Mapping[str, Any]) -> list[str]:
    """What is wrong with a provisioner's spec (the CRD's rules, re-checked for old API servers)."""
    errors: list[str] = []
    kind = spec.get("type")
    if kind not in TYPES:
        return [f"spec.type must be one of {', '.join(TYPES)}, got {kind!r}"]
    for other_kind, block in TYPES.items():
        if other_kind != kind and block in spec:
            errors.append(f"spec.{block} is set but spec.type is {kind}")
    if kind in URL_SCHEMES:
        url = str((spec.get(TYPES[kind]) or {}).get("url") or "")
        if not url:
            errors.append(f"spec.{TYPES[kind]}.url is required for type {kind}")
        elif not url.startswith(URL_SCHEMES[kind]):
            errors.append(
                f"spec.{TYPES[kind]}.url {url!r} must start with one of {', '.join(URL_SCHEMES[kind])}"
            )
    return errors


def default_provisioner(provisioners: Sequence[Mapping[str, Any]]) -> tuple[str | None, str]:
    """The name of the one provisioner marked default, or (None, why not)."""
    defaults = sorted(
        p["metadata"]["name"] for p in provisioners if (p.get("spec") or {}).get("default") is True
    )
    if len(defaults) == 1:
        return defaults[0], ""
    if not defaults:
        return None, "no ClusterChannelProvisioner is marked default"
    return None, f"several ClusterChannelProvisioners are marked default: {', '.join(defaults)}"


def make_status(
    provisioner: Mapping[str, Any],
    dispatcher_exists: bool,
    settings: ControllerSettings,
    now: str | None = None,
) -> dict[str, Any]:
    """The desired status: the dispatcher Service's address, the explicit host suffix of channel
    hosts (None, i.e. removed, when spec.dispatcher.hostSuffix is unset), and the conditions."""
    meta, spec = provisioner["metadata"], provisioner.get("spec") or {}
    generation = int(meta.get("generation", 1))
    conds = cond.CONDITIONS.manage(
        (provisioner.get("status") or {}).get("conditions"), generation, now or now_rfc3339()
    )
    errors = settings_errors(spec)
    if errors:
        conds.mark_false(cond.SETTINGS_VALID, "InvalidSettings", "; ".join(errors))
    else:
        conds.mark_true(cond.SETTINGS_VALID)
    host = dispatcher_host(settings, meta["name"])
    if dispatcher_exists:
        conds.mark_true(cond.DISPATCHER_READY)
    else:
        conds.mark_false(
            cond.DISPATCHER_READY,
            "DispatcherServiceMissing",
            f"the dispatcher Service {host} does not exist (installed by the eventwire EventingCore)",
        )
    return {
        "observedGeneration": generation,
        "address": {"url": dispatcher_url(settings, meta["name"])},
        # Only an explicit suffix: channels are then host-style, else path-routed on the Service.
        "hostSuffix": explicit_host_suffix(provisioner),
        "conditions": conds.result(),
    }
