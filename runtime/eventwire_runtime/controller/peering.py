"""Several controller replicas, one active: kopf's peering, with the oldest replica winning.

kopf's peering is not a leader election. Every replica writes a keep-alive (priority, lifetime,
last seen) under its identity into the status of one peering object (a ClusterKopfPeering, or a
KopfPeering per namespace with --namespace) and watches it; a replica that sees a live peer with
a higher priority pauses all its handling, and replicas that see a live peer with the *same*
priority all pause. So each replica needs its own priority, and the install creates the peering
object before the controller (peering is then mandatory: without the object every replica
stays paused rather than risk two active ones).

The priority is the negated start time (`priority`): the replica that started first wins, a new
replica (a scale-up or a rolling update's surge pod) starts paused and never interrupts the
active one, and when the active replica stops cleanly it removes its keep-alive and the next
oldest takes over at once; when it dies without notice, once its keep-alive expires
(EVENTWIRE_PEERING_LIFETIME). The identity is the pod name (kopf reads POD_ID).

kopf pauses only its watch streams, handlers, daemons and timers; the cache resync is our own
task, so each of its rounds first asks `standby` (kopf's rule, read from the peering object) and a
standby skips the round: its cache may be stale, and what a round finds gone would run handlers
whose reconciles write.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from eventwire_runtime.kube import KubeClient

# Milliseconds of the start time times this, plus a random tie-break below it: two replicas
# started in the same millisecond still differ (equal priorities would pause both).
TIEBREAK_SPAN = 1000
PEERING_API_VERSION = "kopf.dev/v1"


def priority(started_at: float, tiebreak: int) -> int:
    """The kopf peering priority of a replica started at `started_at` (seconds since the epoch):
    earlier starts get higher priorities. `tiebreak` (taken modulo TIEBREAK_SPAN) orders replicas
    started within the same millisecond. Stays within ±2**53 (exact as a JSON number) until the
    year 2255."""
    return -(int(started_at * 1000) * TIEBREAK_SPAN + tiebreak % TIEBREAK_SPAN)


def standing_by(peers: Mapping[str, Any], identity: str, own_priority: int, now: datetime.datetime) -> bool:
    """Whether kopf keeps this replica paused, by kopf's rule over a peering object's status
    (identity -> {priority, lifetime, lastseen}): another peer is alive (lastseen + lifetime is
    after `now`) with a higher or the same priority. A keep-alive that cannot be read counts as
    alive (standing by wrongly costs one skipped round; acting wrongly costs double writes)."""
    for peer_id, peer in peers.items():
        if peer_id == identity or not isinstance(peer, Mapping):
            continue
        try:
            priority = int(peer.get("priority", 0))
            lastseen = datetime.datetime.fromisoformat(str(peer["lastseen"]))
            if lastseen.tzinfo is None:
                lastseen = lastseen.replace(tzinfo=datetime.UTC)
            alive = lastseen + datetime.timedelta(seconds=int(peer.get("lifetime", 60))) > now
        except (KeyError, TypeError, ValueError):
            return True
        if alive and priority >= own_priority:
            return True
    return False


async def standby(
    client: KubeClient, name: str, identity: str, own_priority: int, namespaces: Sequence[str] = ()
) -> bool:
    """Whether this replica stands by now: by the ClusterKopfPeering `name` (cluster-wide), or by
    the KopfPeering `name` of any of `namespaces`. A missing peering object means standing by, as
    kopf's mandatory peering does. One LIST per peering object (the install's RBAC grants list
    and watch on peerings, not get)."""
    now = datetime.datetime.now(datetime.UTC)
    scopes: Sequence[str | None] = namespaces or [None]
    kind = "KopfPeering" if namespaces else "ClusterKopfPeering"
    for namespace in scopes:
        found = [
            obj
            for obj in await client.list(PEERING_API_VERSION, kind, namespace)
            if obj["metadata"]["name"] == name
        ]
        if not found or standing_by(found[0].get("status") or {}, identity, own_priority, now):
            return True
    return False
