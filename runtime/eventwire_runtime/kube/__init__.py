"""The runtime's one Kubernetes API client (controller and ApiServerSource adapter).

`KubeClient` (in `_client`) authenticates through kubernetes_asyncio's configuration loaders (a
pod's service account, rotated tokens re-read; or a kubeconfig with tokens, client certificates,
exec plugins) and speaks plain JSON objects: get, list, create, merge-patch (status subresource
included), delete, and watch streams. Kinds resolve to plurals by discovery, cached per group
version. `ListWatch` (in `_watch`) keeps a collection current: list, watch, resume, 410 re-list.
"""

from eventwire_runtime.kube._client import KubeClient, KubeConfigError, KubeError, Obj
from eventwire_runtime.kube._watch import Change, ListWatch, Observe

__all__ = ["Change", "KubeClient", "KubeConfigError", "KubeError", "ListWatch", "Obj", "Observe"]
