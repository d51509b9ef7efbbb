"""GitHub webhook management through GitHub's REST API (api.github.com or GitHub Enterprise).

`hook_payload` and `hooks_path` are pure; `GitHubHooks` performs the requests:
POST /repos/{owner}/{repo}/hooks (or /orgs/{org}/hooks) to create, PATCH .../hooks/{id} to
update, DELETE .../hooks/{id} to remove. A hook that is already gone counts as removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp

from eventwire_runtime.errors import GitHubError
from eventwire_spec.github_events import APP_ONLY_GITHUB_EVENTS

DEFAULT_API_URL = "https://api.github.com/"


def hooks_path(owner_and_repository: str) -> str:
    """`repos/{owner}/{repo}/hooks`, or `orgs/{owner}/hooks` for an organisation."""
    owner, _, repo = owner_and_repository.strip("/").partition("/")
    return f"repos/{owner}/{repo}/hooks" if repo else f"orgs/{owner}/hooks"


def hook_events(event_types: Sequence[str]) -> tuple[list[str], list[str]]:
    """(the events a repository or organisation webhook can subscribe to, the App-only ones it
    cannot: GitHub refuses a hook naming them), each sorted."""
    app_only = sorted({str(e) for e in event_types} & APP_ONLY_GITHUB_EVENTS)
    return sorted({str(e) for e in event_types} - APP_ONLY_GITHUB_EVENTS), app_only


def hook_payload(url: str, events: Sequence[str], secret: str | None, secure: bool) -> dict[str, Any]:
    config: dict[str, Any] = {"url": url, "content_type": "json", "insecure_ssl": "0" if secure else "1"}
    if secret:
        config["secret"] = secret
    return {"name": "web", "active": True, "events": sorted(events), "config": config}


class GitHubHooks:
    """Create, update and delete one repository's (or organisation's) webhook.

    Args:
        api_url: the REST API base (githubAPIURL), e.g. https://github.example.com/api/v3/.
        token: a token allowed to manage webhooks.
        timeout: seconds per request.
    """

    def __init__(self, api_url: str, token: str, timeout: float = 10.0):
        self.api_url = (api_url or DEFAULT_API_URL).rstrip("/") + "/"
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "eventwire-controller",
        }
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def _request(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> tuple[int, Any]:
        url = self.api_url + path
        try:
            async with (
                aiohttp.ClientSession(headers=self._headers, timeout=self._timeout) as session,
                session.request(method, url, json=body) as rsp,
            ):
                text = await rsp.text()
                if rsp.status >= 400 and rsp.status != 404:
                    raise GitHubError(
                        rsp.status, f"GitHub {method} {url} answered {rsp.status}: {text[:300]}"
                    )
                return rsp.status, (await rsp.json(content_type=None)) if text else None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise GitHubError(0, f"GitHub {method} {url} failed: {exc!r}") from exc

    async def ensure(self, owner_and_repository: str, hook_id: str | None, payload: Mapping[str, Any]) -> str:
        """Update hook `hook_id` to `payload`, or create it when unset or gone; returns its id."""
        path = hooks_path(owner_and_repository)
        if hook_id:
            status, _ = await self._request("PATCH", f"{path}/{hook_id}", payload)
            if status != 404:
                return hook_id
        status, body = await self._request("POST", path, payload)
        if status == 404 or not isinstance(body, Mapping) or "id" not in body:
            raise GitHubError(status, f"GitHub did not create a hook on {path} (answer {status}: {body!r})")
        return str(body["id"])

    async def delete(self, owner_and_repository: str, hook_id: str) -> None:
        """Delete the hook; one that no longer exists is fine."""
        await self._request("DELETE", f"{hooks_path(owner_and_repository)}/{hook_id}")
