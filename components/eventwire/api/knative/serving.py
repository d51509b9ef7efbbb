"""Knative Serving Services from before v1 (serving.knative.dev/v1alpha1): the 2019 samples
deploy their event display with `spec.runLatest`, which Serving v1 spells `spec.template`."""

from __future__ import annotations

import json
from typing import Any, Final

from eventwire.api.knative.rules import Fields, Rule, custom, keep, when_set

_MODES_REFUSED: Final = ("pinned", "release", "manual")


def _run_latest(fields: Fields, run_latest: Any) -> None:
    configuration = run_latest.get("configuration") if isinstance(run_latest, dict) else None
    if not isinstance(configuration, dict) or not isinstance(configuration.get("revisionTemplate"), dict):
        raise fields.fail("spec.runLatest needs configuration.revisionTemplate")
    if "build" in configuration:
        raise fields.fail(
            "spec.runLatest.configuration.build: Knative Build is gone; build the image beforehand"
        )
    template: dict[str, Any] = json.loads(json.dumps(configuration["revisionTemplate"]))
    pod = template.setdefault("spec", {})
    if not isinstance(pod, dict):
        raise fields.fail("spec.runLatest.configuration.revisionTemplate.spec must be an object")
    if "container" in pod:
        pod["containers"] = [pod.pop("container")]
    pod.pop("concurrencyModel", None)  # replaced by containerConcurrency in v1alpha1 already
    fields.out["template"] = template
    fields.notes.append(
        "spec.runLatest.configuration.revisionTemplate became spec.template (serving.knative.dev/v1)"
    )


def _refused_modes(fields: Fields) -> None:
    for mode in _MODES_REFUSED:
        if mode in fields.src:
            raise fields.fail(
                f"spec.{mode} is not converted: write the Service as serving.knative.dev/v1 with spec.template "
                "and spec.traffic"
            )


SERVICE_V1ALPHA1: Final[tuple[Rule, ...]] = (
    when_set(
        "runLatest",
        "spec.runLatest.configuration.revisionTemplate",
        "spec.template (spec.container → spec.containers[0])",
        _run_latest,
    ),
    keep("template"),
    keep("traffic"),
    custom(
        "spec.pinned, spec.release, spec.manual",
        "refused: rewrite with spec.template and spec.traffic",
        _refused_modes,
    ),
)
