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
"""

from __future__ import annotations

# Milliseconds of the start time times this, plus a random tie-break below it: two replicas
# started in the same millisecond still differ (equal priorities would pause both).
TIEBREAK_SPAN = 1000


def priority(started_at: float, tiebreak: int) -> int:
    """The kopf peering priority of a replica started at `started_at` (seconds since the epoch):
    earlier starts get higher priorities. `tiebreak` (taken modulo TIEBREAK_SPAN) orders replicas
    started within the same millisecond. Stays within ±2**53 (exact as a JSON number) until the
    year 2255."""
    return -(int(started_at * 1000) * TIEBREAK_SPAN + tiebreak % TIEBREAK_SPAN)
