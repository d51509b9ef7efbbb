"""Validate the Helm charts a stack installs but does not render: every values key against the
chart version's recorded key list, and the NATS chart's pods (modelled from the values) against
the restricted Pod Security Standard that the eventwire namespace enforces.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eventwire.install.chart_pods import nats_chart_pods
from eventwire.install.chart_values import chart_keys, unknown_values
from eventwire.install.versions import NATS_CHART_REPOSITORY
from eventwire.render.pod_security import restricted_violations


def chart_problems(artifact: Mapping[str, Any]) -> tuple[list[str], bool]:
    """(problems, checked) for one helm-chart artifact; `checked` is False when no key list is
    recorded for its chart version."""
    values = artifact.get("values") or {}
    recorded = chart_keys(
        str(artifact.get("repository")), str(artifact.get("chart")), str(artifact.get("version"))
    )
    if recorded is None:
        return [], False
    problems = unknown_values(recorded, values)
    if recorded.repository.rstrip("/") == NATS_CHART_REPOSITORY.rstrip("/") and recorded.chart == "nats":
        pods, model_problems = nats_chart_pods(values)
        problems.extend(model_problems)
        for workload, pod in pods.items():
            problems.extend(
                f"pod of the chart's {workload}: restricted Pod Security: {problem}"
                for problem in restricted_violations(pod)
            )
    return problems, True
