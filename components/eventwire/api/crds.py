"""Render the eventwire CustomResourceDefinitions from their jinja2 templates.

The templates (templates/*.yaml.j2) hold the schemas; this module fills in the group, version
and labels, parses the YAML and hands out plain dicts, so that the Pulumi install, the CLI and
the validator all see exactly the same CRDs.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from typing import Any

import jinja2
import yaml

from eventwire.api.github_events import GITHUB_EVENTS
from eventwire.api.kinds import KINDS, MESSAGING_GROUP, SOURCES_GROUP, VERSION, Kind, kind_for
from eventwire_spec import durations

DEFAULT_LABELS: Mapping[str, str] = {
    "app.kubernetes.io/name": "eventwire",
    "app.kubernetes.io/part-of": "eventwire",
    "eventwire.dev/release": "devel",
}

_environment = jinja2.Environment(
    loader=jinja2.PackageLoader("eventwire.api", "templates"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,  # YAML, not HTML
)
# One duration grammar for the CRDs, the validator (which reads the CRDs) and the runtime.
_environment.globals["durations"] = durations


def render_crd_yaml(kind: Kind, labels: Mapping[str, str] | None = None) -> str:
    """The CRD of `kind` as YAML text, labelled with DEFAULT_LABELS updated by `labels`."""
    template = _environment.get_template(kind.template)
    return template.render(
        kind=kind.kind,
        plural=kind.plural,
        group=kind.group,
        version=VERSION,
        scope=kind.scope,
        short_names=kind.short_names,
        category=kind.category,
        description=f"{kind.kind} of the eventwire API ({kind.api_version}).",
        labels={**DEFAULT_LABELS, **(labels or {})},
        messaging_group=MESSAGING_GROUP,
        sources_group=SOURCES_GROUP,
        github_events=GITHUB_EVENTS,
    )


@functools.cache
def _render_default(kind: Kind) -> dict[str, Any]:
    crd: dict[str, Any] = yaml.safe_load(render_crd_yaml(kind))
    return crd


def render_crd(kind: Kind, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The CRD of `kind` as a dict (a fresh copy the caller may change)."""
    if labels:
        rendered: dict[str, Any] = yaml.safe_load(render_crd_yaml(kind, labels))
        return rendered
    return copy.deepcopy(_render_default(kind))


def render_crds(labels: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Every eventwire CRD, in a stable order (messaging kinds, then eventing, then sources)."""
    return [render_crd(kind, labels) for kind in KINDS]


def render_crds_yaml(labels: Mapping[str, str] | None = None) -> str:
    """Every CRD as one multi-document YAML stream, ready for `kubectl apply -f -`.

    The parsed templates are dumped again so that the output is uniformly formatted.
    """
    return yaml.safe_dump_all(render_crds(labels), sort_keys=False, width=120)


def openapi_schema(api_version: str, kind: str) -> dict[str, Any] | None:
    """The openAPIV3Schema for an eventwire apiVersion/kind, or None if it is not one of ours."""
    found = kind_for(api_version, kind)
    if found is None:
        return None
    schema: dict[str, Any] = _render_default(found)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema
