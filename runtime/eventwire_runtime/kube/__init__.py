"""The runtime's one Kubernetes API client (controller and ApiServerSource adapter).

`KubeClient` (in `_client`) authenticates through kubernetes_asyncio's configuration loaders (a
pod's service account, rotated tokens re-read; or a kubeconfig with tokens, client certificates,
exec plugins) and speaks plain JSON objects: get, list, create, merge-patch (status subresource
included), delete, and watch streams. Kinds resolve to plurals by discovery, cached per group
version.
"""

from eventwire_runtime.kube._client import KubeClient, KubeConfigError, KubeError, Obj

__all__ = ["KubeClient", "KubeConfigError", "KubeError", "Obj"]
