"""Validate rendered objects: built-in kinds against the Kubernetes OpenAPI schemas
(kubernetes-validate), eventwire kinds against our CRD schemas, and every pod spec against the
restricted Pod Security Standard. Other custom kinds (Istio's) are reported as unchecked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from eventwire.render.pod_security import pod_spec_of, restricted_violations

# The oldest Kubernetes release the install supports.
KUBERNETES_VERSION: Final = "1.33.0"


def is_builtin(api_version: str) -> bool:
    """Built-in groups have no dot (core "v1", "apps/v1") or end in .k8s.io."""
    group = api_version.rpartition("/")[0]
    return "." not in group or group.endswith(".k8s.io")


def object_problems(manifest: Mapping[str, Any]) -> tuple[list[str], bool]:
    """(problems, checked) for one object; `checked` is False for kinds we have no schema for."""
    api_version = str(manifest.get("apiVersion", ""))
    problems: list[str] = []
    if api_version.split("/")[0].endswith("eventwire.dev"):
        from eventwire.api import resource_errors

        problems = [str(error) for error in resource_errors(manifest)]
    elif is_builtin(api_version):
        problems = _kubernetes_problems(manifest)
    else:
        return [], False
    pod = pod_spec_of(manifest)
    if pod is not None:
        problems.extend(f"restricted Pod Security: {problem}" for problem in restricted_violations(pod))
    return problems, True


def _kubernetes_problems(manifest: Mapping[str, Any]) -> list[str]:
    import kubernetes_validate  # slow to import; only needed here

    try:
        kubernetes_validate.validate(dict(manifest), KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(part) for part in exc.path)
        return [f"{path}: {exc.message}" if path else str(exc.message)]
    except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as exc:
        return [f"no Kubernetes {KUBERNETES_VERSION} schema: {exc}"]
    return []
