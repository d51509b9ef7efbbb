"""The conversion table as Markdown, rendered from the converter's own mapping.

docs/knative-conversion.md is this module's output (`python -m eventwire.api.knative.table >
docs/knative-conversion.md`); a test keeps the two equal.
"""

from __future__ import annotations

import sys

from eventwire.api.knative.legacy import PROVISIONERS, UNSUPPORTED_PROVISIONERS, provisioner_refusal
from eventwire.api.knative.mapping import MAPPINGS, KindMapping
from eventwire.api.knative.references import OTHER_KNATIVE_REFERENCE, REFERENCE_REFUSALS, REFERENCE_TARGETS

INTRO = """\
# Converting Knative manifests

`eventwire convert FILE_OR_DIR ...` prints Knative manifests of every API generation in eventwire's
API, oldest first: Knative Eventing v0.2-v0.7 (`eventing.knative.dev/v1alpha1` channels and
`sources.eventing.knative.dev/v1alpha1` sources), then `messaging.knative.dev`,
`sources.knative.dev` and `eventing.knative.dev` from v1alpha1 to v1, and Knative Serving
Services. Notes on what changed go to stderr. A Knative document it does not convert is an error
(exit 1) that names the kind and what to use instead; nothing passes through unchanged, except
Knative Serving v1 resources, which run on the Knative Serving that eventwire installs.
`eventwire validate` refuses unconverted Knative documents and asks for `eventwire convert`.

This file is generated from the converter's mapping
(`python -m eventwire.api.knative.table > docs/knative-conversion.md`); a test keeps them equal.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _converted(mapping: KindMapping) -> list[str]:
    versions = ", ".join(mapping.versions)
    lines = [
        f"### `{mapping.group}` {versions} {mapping.kind} → `{mapping.api_version}` {mapping.target}",
        "",
    ]
    if mapping.notes:
        lines += [*(f"{note}." for note in mapping.notes), ""]
    lines += ["| Knative field | eventwire |", "| --- | --- |"]
    lines += [f"| {_cell(rule.source) or '(new)'} | {_cell(rule.becomes)} |" for rule in mapping.rules]
    if mapping.passthrough:
        return [*lines, "| every other spec field | kept as it is |", ""]
    return [*lines, "| any other spec field | an error naming the field |", ""]


def render() -> str:
    """docs/knative-conversion.md."""
    out = [INTRO, "## Kinds that convert", ""]
    for mapping in MAPPINGS:
        if mapping.target is not None:
            out += _converted(mapping)
    out += [
        "## Kinds that are refused",
        "",
        "| Knative | versions | kind | instead |",
        "| --- | --- | --- | --- |",
    ]
    for mapping in MAPPINGS:
        if mapping.target is None:
            versions = ", ".join(mapping.versions)
            out.append(f"| `{mapping.group}` | {versions} | {mapping.kind} | {_cell(mapping.advice)} |")
    out += [
        "| any other `*.knative.dev` kind or version | | | refused, with advice for its group |",
        "",
        "## References: sinks, subscribers, replies, dead-letter sinks, channels",
        "",
        "A reference to a Knative kind becomes the kind eventwire has; a reference to a Knative kind "
        "eventwire does not have is refused, because it could never resolve. References to other "
        "groups (Kubernetes Services, any object with `status.address.url`) are kept. The v0.2-v0.7 "
        "bare object reference becomes `ref`, `dnsName` becomes `uri: http://<dnsName>/` and "
        "`reply.channel` becomes `reply.ref`.",
        "",
        "| Knative reference | becomes |",
        "| --- | --- |",
    ]
    for (group, kind), target in REFERENCE_TARGETS.items():
        out.append(f"| `{group}` {kind} | `{target.api_version}` {target.kind} |")
    for (group, kind), advice in REFERENCE_REFUSALS.items():
        out.append(f"| `{group}` {kind} | refused: {_cell(advice)} |")
    out += [f"| any other `*.knative.dev` kind | refused: {OTHER_KNATIVE_REFERENCE} |", ""]
    out += [
        "## v0.2-v0.7 ClusterChannelProvisioners",
        "",
        "| Knative provisioner | eventwire |",
        "| --- | --- |",
    ]
    out += [f"| `{old}` | the `{new}` provisioner (type `in-memory`) |" for old, new in PROVISIONERS.items()]
    out += [
        f"| `{name}` | refused: {_cell(provisioner_refusal(name))} |" for name in UNSUPPORTED_PROVISIONERS
    ]
    out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(render())
