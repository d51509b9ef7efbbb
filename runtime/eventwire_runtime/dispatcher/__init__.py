"""The channel dispatcher (data plane): ingress, routing, backends and fan-out.

Modules: settings (configuration), server (HTTP on asyncio protocols), ingress (the channel
contract), routing + sources + kube (the routing table and where it comes from), fanout
(delivery to subscribers), backends/ (in-memory, jetstream, redis), metrics, logs, app, main.
"""
