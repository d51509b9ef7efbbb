"""`eventwire dev`: a topology from the same manifests, run on this machine without Kubernetes.

`dev up` runs the dispatcher (all Channels), the sources' adapters as processes, and a live event
viewer on 127.0.0.1; `dev send` sends events into it. See `cli` for the commands and `runner` for
what runs where. Imported only by `eventwire dev` (the component library's CLI, lazily).
"""
