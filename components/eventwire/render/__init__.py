"""`eventwire render`: run the install program against a stack file without a cluster or the
Pulumi CLI, and write what it would create.

    eventwire render --stack dev --out build/dev [--set KEY=VALUE ...] [--project DIR]

Writes, in `--out` (replacing the files an earlier render wrote, and only those):
- one YAML file per top-level component (`10-istio.yaml`, `30-eventing.yaml`, ...), every
  Kubernetes object it creates, in a stable order, secret values redacted;
- `artifacts.yaml`: the third-party artifacts (Helm charts with versions and values, release
  manifest URLs) the program installs but does not render;
- `outputs.yaml`: the stack outputs (secret ones redacted).
Everything is validated: built-in kinds with kubernetes-validate, eventwire kinds against our
CRDs, pod specs against the restricted Pod Security Standard, and every Helm chart's values
against the keys its pinned version has (eventwire.install.chart_values), the NATS chart's pods
(modelled from those values) against the restricted standard too. Exit status 1 on any problem.
"""

from eventwire.render.command import add_render_command

__all__ = ["add_render_command"]
