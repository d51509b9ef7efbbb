"""The runtime's one Kubernetes client (eventwire_runtime.kube) against the API fake."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eventwire_runtime.delivery.errors import ConfigError
from eventwire_runtime.kube import KubeClient, KubeConfigError, KubeError
from tests.support.kube import running_kube

CM = "/api/v1/namespaces/ns/configmaps"


def configmap(name: str, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "ns"}, **fields}


async def test_the_runtime_client_works_against_the_threaded_fake_through_a_kubeconfig(
    tmp_path: Path,
) -> None:
    """It logs in with a kubeconfig's token and gets, patches, lists and watches plain objects."""
    with running_kube() as fake:
        fake.create(configmap("a", data={"k": "v"}))
        client = await KubeClient.connect(str(fake.write_kubeconfig(tmp_path / "config")))
        try:
            found = await client.get("v1", "ConfigMap", "a", "ns")
            assert found is not None
            assert found["data"] == {"k": "v"}
            await client.patch("v1", "ConfigMap", "a", {"data": {"k": "w"}}, "ns")
            assert [c["data"] for c in await client.list("v1", "ConfigMap", "ns")] == [{"k": "w"}]
            assert await client.get("v1", "ConfigMap", "gone", "ns") is None
            with pytest.raises(KubeError) as info:
                await client.create(configmap("a"))
            assert info.value.status == 409
            async with client.stream(CM, 5, watch="true", timeoutSeconds="1") as response:
                first = json.loads(await response.content.readline())
            assert (first["type"], first["object"]["data"]) == ("ADDED", {"k": "w"})
        finally:
            await client.close()
        assert ("GET", "/api/v1/namespaces/ns/configmaps/a") in fake.requests


async def test_missing_credentials_are_a_configuration_error_that_names_the_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(KubeConfigError, match="cannot load Kubernetes credentials") as info:
        await KubeClient.connect(str(tmp_path / "no-such-kubeconfig"))
    assert isinstance(info.value, ConfigError)  # adapters exit with their configuration status
    assert isinstance(info.value, KubeError)
