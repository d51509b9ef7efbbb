"""eventwire: Knative-style eventing for Kubernetes, installed with Pulumi."""
