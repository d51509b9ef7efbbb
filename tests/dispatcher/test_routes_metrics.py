"""The routing table as /metrics shows it: what it holds, whether its source reads."""

from __future__ import annotations

from eventwire_runtime.dispatcher.metrics import DispatcherMetrics
from eventwire_runtime.dispatcher.routing import BROKER, ChannelRoute, RoutingTable, Subscriber


def test_the_routes_gauge_counts_what_the_table_holds() -> None:
    table = RoutingTable()
    metrics = DispatcherMetrics()
    metrics.watch_routes(table)
    table.replace_all(
        [
            ChannelRoute("shop", "orders", (Subscriber("a", "http://a"),), paused=("b",)),
            ChannelRoute("shop", "payments"),
            ChannelRoute(
                "shop",
                "broker:default",
                (Subscriber("t1", "http://t1"), Subscriber("t2", "http://t2")),
                paused=("t3",),
                kind=BROKER,
            ),
        ]
    )

    def sample(kind: str) -> float | None:
        return metrics.registry.get_sample_value("eventwire_dispatcher_routes", {"kind": kind})

    assert {kind: sample(kind) for kind in ("channel", "subscriber", "broker", "trigger", "paused")} == {
        "channel": 2,
        "subscriber": 1,
        "broker": 1,
        "trigger": 2,
        "paused": 2,
    }
    table.replace_all([])
    assert sample("channel") == sample("trigger") == 0
