"""`resync_once` over plain indexes and a scripted LIST: what it judges vanished, and what not."""

from __future__ import annotations

import asyncio
from typing import Any

from eventwire_runtime.controller import resync
from eventwire_runtime.controller.cache import SUBSCRIPTIONS, index_subscription
from tests.controller.factories import make_subscription


def indexed(*objects: dict[str, Any]) -> dict[Any, list[Any]]:
    index: dict[Any, list[Any]] = {}
    for obj in objects:
        for key, value in index_subscription(obj).items():
            index.setdefault(key, []).append(value)
    return index


def subscription(name: str) -> dict[str, Any]:
    obj = make_subscription(name, "ns", "orders", subscriber={"uri": "http://x.example/"})
    obj["metadata"]["uid"] = f"uid-{name}"
    return obj


class ScriptedList:
    """Answers LIST with `live`; `during` runs while the LIST is in flight."""

    def __init__(self, live: list[dict[str, Any]], during: Any = None):
        self.live, self.during, self.calls = live, during, 0

    async def list(self, api_version: str, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        self.calls += 1
        if self.during is not None:
            self.during()
        return self.live


def run(client: ScriptedList, indexes: dict[str, Any]) -> tuple[int, list[str], list[tuple[str, str]]]:
    discarded: list[str] = []
    deleted: list[tuple[str, str]] = []

    async def on_deleted(plural: str, obj: dict[str, Any]) -> None:
        deleted.append((plural, obj["metadata"]["name"]))

    count = asyncio.run(
        resync.resync_once(
            client,  # type: ignore[arg-type]
            indexes,
            lambda obj: discarded.append(obj["metadata"]["uid"]),
            on_deleted,
        )
    )
    return count, discarded, deleted


def test_an_indexed_object_missing_from_the_list_is_discarded_and_reported_deleted() -> None:
    a, b = subscription("a"), subscription("b")
    count, discarded, deleted = run(ScriptedList([b]), {SUBSCRIPTIONS: indexed(a, b)})
    assert (count, discarded, deleted) == (1, ["uid-a"], [("subscriptions", "a")])


def test_an_object_indexed_while_the_list_runs_is_not_judged() -> None:
    a = subscription("a")
    indexes = {SUBSCRIPTIONS: indexed(a)}
    late = subscription("late")  # created after the LIST was answered, seen by the watch

    def index_late() -> None:
        for key, value in index_subscription(late).items():
            indexes[SUBSCRIPTIONS].setdefault(key, []).append(value)

    client = ScriptedList([a], during=index_late)
    assert run(client, indexes) == (0, [], [])
    assert client.calls == 1, "one LIST per namespace of the index"


async def test_a_standby_skips_its_rounds_and_a_failed_round_is_counted_and_survived() -> None:
    """The periodic loop: no LIST while standing by (kopf peering); a round that raises is
    logged, counted, and the loop goes on."""
    a = subscription("a")
    client = ScriptedList([])
    standing_by = [True, True, False, False]
    rounds = asyncio.Event()
    errors: list[str] = []
    deleted: list[str] = []

    async def standby() -> bool:
        if not standing_by:
            rounds.set()
            await asyncio.Event().wait()  # the test is over: park here until cancelled
        return standing_by.pop(0)

    async def on_deleted(plural: str, obj: dict[str, Any]) -> None:
        deleted.append(obj["metadata"]["name"])
        raise RuntimeError("a handler bug")  # fails the round (after the discard)

    indexes = {SUBSCRIPTIONS: indexed(a)}

    def discard(obj: dict[str, Any]) -> None:
        indexes[SUBSCRIPTIONS] = {}

    task = asyncio.create_task(
        resync.run_periodically(
            0.001,
            client,
            indexes,
            discard,
            on_deleted,
            standby=standby,
            on_error=lambda: errors.append("x"),  # type: ignore[arg-type]
        )
    )
    try:
        await asyncio.wait_for(rounds.wait(), 5)
    finally:
        task.cancel()
    assert client.calls == 1  # the two standby rounds listed nothing; the fourth found nothing to list
    assert deleted == ["a"]
    assert errors == ["x"]
