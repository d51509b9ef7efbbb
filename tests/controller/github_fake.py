"""A local fake of GitHub's webhook REST API (repository and organisation hooks), on loopback.

POST /repos/{owner}/{repo}/hooks and /orgs/{org}/hooks create (201 with an id); PATCH and DELETE
.../hooks/{id} update (200) and remove (204); unknown ids answer 404. Requests without the
expected bearer token answer 401, like GitHub; a hook with events only GitHub Apps (or
Marketplace and Sponsors listings) receive answers 422, like GitHub.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from aiohttp import web

# GitHub's side of the facts, kept apart from eventwire_spec's list on purpose: the events whose
# documented availability is only a GitHub App, a Marketplace or a Sponsors listing.
NOT_FOR_HOOKS = {
    "github_app_authorization",
    "installation",
    "installation_repositories",
    "installation_target",
    "marketplace_purchase",
    "personal_access_token_request",
    "repository_dispatch",
    "security_advisory",
    "sponsorship",
}


class GitHubHooksFake:
    def __init__(self, token: str):
        self.token = token
        self.hooks: dict[str, dict[str, Any]] = {}  # id -> {"path": ..., **payload}
        self.requests: list[tuple[str, str]] = []
        self._next_id = 1000
        self.url = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"message": "Bad credentials"}, status=401)
        parts = request.path.strip("/").split("/")
        if request.method in ("POST", "PATCH"):
            refused = sorted(set((await request.json()).get("events") or []) & NOT_FOR_HOOKS)
            if refused:
                message = f"Validation Failed: events {refused} are not available to this hook"
                return web.json_response({"message": message}, status=422)
        if request.method == "POST" and parts[-1] == "hooks":
            self._next_id += 1
            hook_id = str(self._next_id)
            self.hooks[hook_id] = {"path": "/".join(parts), **await request.json()}
            return web.json_response({"id": int(hook_id), **self.hooks[hook_id]}, status=201)
        if len(parts) >= 2 and parts[-2] == "hooks":
            hook_id = parts[-1]
            if hook_id not in self.hooks:
                return web.json_response({"message": "Not Found"}, status=404)
            if request.method == "PATCH":
                self.hooks[hook_id].update(await request.json())
                return web.json_response({"id": int(hook_id), **self.hooks[hook_id]})
            if request.method == "DELETE":
                del self.hooks[hook_id]
                return web.Response(status=204)
        return web.json_response({"message": "Not Found"}, status=404)


@contextlib.contextmanager
def running_github(token: str) -> Iterator[GitHubHooksFake]:
    """Serve a `GitHubHooksFake` on a free 127.0.0.1 port in a thread until the block ends."""
    fake = GitHubHooksFake(token)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="github-fake", daemon=True)
    thread.start()
    runner = web.AppRunner(fake.app(), handle_signals=False)

    async def start() -> str:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}/api/v3/"

    try:
        fake.url = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
