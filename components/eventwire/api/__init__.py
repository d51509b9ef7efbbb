"""The eventwire API: its CRDs, validation of custom resources, and conversion from Knative."""

from eventwire.api.crds import (
    DEFAULT_LABELS,
    openapi_schema,
    render_crd,
    render_crd_yaml,
    render_crds,
    render_crds_yaml,
)
from eventwire.api.kinds import (
    EVENTING_GROUP,
    KINDS,
    MESSAGING_GROUP,
    SOURCES_GROUP,
    VERSION,
    Kind,
    kind_for,
    kind_named,
)
from eventwire.api.knative import Conversion, convert_knative, is_knative, needs_conversion
from eventwire.api.structural import structural_errors
from eventwire.api.validation import resource_errors, validate_resource

__all__ = [
    "DEFAULT_LABELS",
    "EVENTING_GROUP",
    "KINDS",
    "MESSAGING_GROUP",
    "SOURCES_GROUP",
    "VERSION",
    "Conversion",
    "Kind",
    "convert_knative",
    "is_knative",
    "kind_for",
    "kind_named",
    "needs_conversion",
    "openapi_schema",
    "render_crd",
    "render_crd_yaml",
    "render_crds",
    "render_crds_yaml",
    "resource_errors",
    "structural_errors",
    "validate_resource",
]
