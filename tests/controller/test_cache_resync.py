"""The cache resync: an object deleted while the operator's watches were down (kopf re-lists and
sends no DELETED for it) is forgotten after the next resync, as if its DELETED had arrived."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.controller.conftest import running_operator
from tests.controller.factories import MESSAGING, apply, make_channel, make_subscription
from tests.support.kube import KubeApiFake
from tests.support.processes import ManagedProcess
from tests.support.waiting import eventually

TIMEOUT = 15.0


@pytest.fixture(scope="module")
def operator(kube: KubeApiFake, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    """The real controller with a resync every second (the default is minutes)."""
    with running_operator(
        kube, tmp_path_factory.mktemp("kube"), {"EVENTWIRE_CACHE_RESYNC_SECONDS": "1"}
    ) as proc:
        yield proc


def channel_status(kube: KubeApiFake, namespace: str) -> dict[str, Any]:
    return dict((kube.get(MESSAGING, "Channel", "orders", namespace) or {}).get("status") or {})


def test_a_subscription_deleted_during_a_watch_gap_leaves_the_routing_table(
    cluster: KubeApiFake, namespace: str
) -> None:
    kube = cluster
    apply(kube, make_channel("orders", namespace))
    for name in ("a", "b"):
        apply(
            kube, make_subscription(name, namespace, "orders", subscriber={"uri": f"http://{name}.example/"})
        )

    def listed() -> list[str]:
        return [s["name"] for s in channel_status(kube, namespace).get("subscribers") or []]

    eventually(lambda: listed() == ["a", "b"], TIMEOUT, "both listed")
    uid = kube.get(MESSAGING, "Subscription", "a", namespace)["metadata"]["uid"]  # type: ignore[index]
    with kube.watch_gap():
        # Gone at once (no finalizer left to wait on), and no watch hears of it.
        kube.patch(MESSAGING, "Subscription", "a", {"metadata": {"finalizers": []}}, namespace)
        kube.delete(MESSAGING, "Subscription", "a", namespace)
    assert kube.get(MESSAGING, "Subscription", "a", namespace) is None
    eventually(lambda: listed() == ["b"], TIMEOUT, "only b listed after the resync")
    tombstones = channel_status(kube, namespace).get("deletedSubscribers") or []
    assert [(t["uid"], t["name"]) for t in tombstones] == [(uid, "a")]
