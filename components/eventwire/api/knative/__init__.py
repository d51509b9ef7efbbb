"""Convert Knative manifests of every API generation to the eventwire API.

`mapping.MAPPINGS` is the conversion table (Knative group, versions and kind → eventwire kind,
field by field); `references.REFERENCE_TARGETS` the kinds a sink, subscriber or reply may point
at; `table` renders both into docs/knative-conversion.md.
"""

from eventwire.api.knative.conversion import Conversion, convert_knative, is_knative, needs_conversion
from eventwire.api.knative.mapping import MAPPINGS, KindMapping, mapping_for
from eventwire.api.knative.references import REFERENCE_REFUSALS, REFERENCE_TARGETS, is_knative_group

__all__ = [
    "MAPPINGS",
    "REFERENCE_REFUSALS",
    "REFERENCE_TARGETS",
    "Conversion",
    "KindMapping",
    "convert_knative",
    "is_knative",
    "is_knative_group",
    "mapping_for",
    "needs_conversion",
]
