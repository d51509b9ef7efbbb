"""The eventwire project (Pulumi.yaml, stacks/, infra/) as the tests see it."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventwire.render.project import Project, load_project

ROOT = Path(__file__).resolve().parents[2]
PROJECT = load_project(ROOT / "Pulumi.yaml")
STACKS = PROJECT.stacks()
# The stacks of long-lived clusters; `ci` is the throwaway kind cluster of scripts/e2e-kind.sh.
CLUSTER_STACKS = [stack for stack in STACKS if stack != "ci"]
# Credentials as a `pulumi config set --secret` would provide them; they must never be rendered.
SECRETS = {
    "githubWebhookSecret": "gh-webhook-8f3a91c2",
    "awsCredentials": "[default]\naws_access_key_id=AKIAEXAMPLE42\naws_secret_access_key=aws-key-77e0d",
    "gcpCredentials": '{"type": "service_account", "private_key": "gcp-key-5b1e"}',
}


@pytest.fixture
def project() -> Project:
    return PROJECT
