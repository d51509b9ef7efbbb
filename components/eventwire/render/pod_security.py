"""The Kubernetes "restricted" Pod Security Standard, checked on a pod spec (no cluster needed).

Covers every control of the baseline and restricted profiles (Kubernetes 1.33): host
namespaces, privileged containers, capabilities, hostPath volumes and other volume types, host
ports, AppArmor, SELinux, /proc mount, seccomp, sysctls, privilege escalation, running as root.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

ALLOWED_VOLUME_TYPES: Final = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
SAFE_SYSCTLS: Final = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
SELINUX_TYPES: Final = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
POD_TEMPLATE_KINDS: Final = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})


def pod_spec_of(manifest: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod spec inside a workload manifest (Pod, Deployment, ..., CronJob), or None."""
    kind = manifest.get("kind")
    spec = manifest.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind in POD_TEMPLATE_KINDS:
        return (spec.get("template") or {}).get("spec")
    if kind == "CronJob":
        return (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec")
    return None


def restricted_violations(pod: Mapping[str, Any]) -> list[str]:
    """Every way `pod` (a PodSpec) breaks the restricted profile; empty when it passes."""
    problems: list[str] = []
    pod_context = pod.get("securityContext") or {}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            problems.append(f"spec.{key} must not be true")
    for volume in pod.get("volumes") or []:
        types = set(volume) - {"name"}
        if not types <= ALLOWED_VOLUME_TYPES:
            problems.append(
                f"volume {volume.get('name')}: type {sorted(types - ALLOWED_VOLUME_TYPES)} is not allowed"
            )
    for sysctl in pod_context.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            problems.append(f"sysctl {sysctl.get('name')} is not in the safe set")
    problems.extend(_context_problems("spec.securityContext", pod_context))
    if pod_context.get("runAsUser") == 0:
        problems.append("spec.securityContext.runAsUser must not be 0")
    for where, container in _containers(pod):
        context = container.get("securityContext") or {}
        problems.extend(_context_problems(f"{where}.securityContext", context))
        if context.get("privileged"):
            problems.append(f"{where}: privileged must not be true")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation must be false")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{where}: capabilities must drop ALL")
        added = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
        if added:
            problems.append(f"{where}: capabilities may add only NET_BIND_SERVICE, not {sorted(added)}")
        if context.get("procMount") not in (None, "Default"):
            problems.append(f"{where}: procMount must be Default")
        if context.get("runAsUser") == 0:
            problems.append(f"{where}: runAsUser must not be 0")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                problems.append(f"{where}: hostPort {port['hostPort']} is not allowed")
        if not _effective(context, pod_context, "runAsNonRoot"):
            problems.append(f"{where}: runAsNonRoot must be true (on the container or the pod)")
        seccomp = (context.get("seccompProfile") or pod_context.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(
                f"{where}: seccompProfile must be RuntimeDefault or Localhost (on the container or the pod)"
            )
    return problems


def _containers(pod: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for index, container in enumerate(pod.get(field) or []):
            yield f"spec.{field}[{index}] ({container.get('name')})", container


def _effective(context: Mapping[str, Any], pod_context: Mapping[str, Any], key: str) -> bool:
    value = context.get(key)
    return bool(pod_context.get(key)) if value is None else bool(value)


def _context_problems(where: str, context: Mapping[str, Any]) -> Iterator[str]:
    seccomp = (context.get("seccompProfile") or {}).get("type")
    if seccomp == "Unconfined":
        yield f"{where}.seccompProfile must not be Unconfined"
    apparmor = (context.get("appArmorProfile") or {}).get("type")
    if apparmor not in (None, "RuntimeDefault", "Localhost"):
        yield f"{where}.appArmorProfile must be RuntimeDefault or Localhost"
    selinux = context.get("seLinuxOptions") or {}
    if selinux.get("type", "") not in SELINUX_TYPES:
        yield f"{where}.seLinuxOptions.type {selinux.get('type')!r} is not allowed"
    if selinux.get("user") or selinux.get("role"):
        yield f"{where}.seLinuxOptions user and role must not be set"
