"""Each GitHub event's CloudEvent carries the type, source, subject and extension attributes that
Knative's eventing-github adapter gives it, read from the delivery by a real CloudEvents SDK.

The expected values are written from Knative's `SubjectAndExtensionsFromGitHubEvent`
(knative-extensions/eventing-github, pkg/common/events.go), one case per event it parses; the
events Knative refuses (404) follow eventwire's documented rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from hypothesis import given, settings
from hypothesis import strategies as st

from eventwire_runtime.adapters.events import valid_extension_name
from eventwire_runtime.adapters.github_attributes import RULES, render_markdown, subject_and_extensions
from eventwire_spec.github_events import GITHUB_EVENTS, KNATIVE_GITHUB_EVENTS
from tests.adapters import github_payloads as gh
from tests.adapters.test_github import webhook

ROOT = Path(__file__).resolve().parents[2]
REPO = {"owner": "acme", "repository": "widgets", "sender": "octocat"}
SENDER = {"sender": "octocat"}
ORG = {"owner": "acme", "sender": "octocat"}
COMMIT = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
INSTALL = {"id": 2311213, "account": {"login": "acme"}}

# (event, payload, subject, extensions): Knative's rules, value by value.
KNATIVE_CASES: list[tuple[str, dict[str, Any], str | None, dict[str, str]]] = [
    (
        "check_run",
        gh.repository_event(action="completed", check_run={"id": 128620228, "status": "completed"}),
        "128620228",
        {**REPO, "action": "completed"},
    ),
    (
        "check_suite",
        gh.repository_event(action="completed", check_suite={"id": 118578147}),
        "118578147",
        {**REPO, "action": "completed"},
    ),
    (
        "commit_comment",
        gh.repository_event(
            action="created",
            comment={
                "id": 29186860,
                "html_url": f"https://github.com/acme/widgets/commit/{COMMIT}#commitcomment-29186860",
            },
        ),
        f"{COMMIT}#commitcomment-29186860",
        {**REPO, "action": "created"},
    ),
    (
        "create",
        gh.repository_event(ref="simple-tag", ref_type="tag", master_branch="main"),
        "tag",
        {**REPO, "ref": "simple-tag"},
    ),
    ("delete", gh.repository_event(ref="gears", ref_type="branch"), "branch", {**REPO, "ref": "gears"}),
    (
        "deployment",
        gh.repository_event(action="created", deployment={"id": 87972451, "environment": "prod"}),
        "87972451",
        REPO,
    ),
    (
        "deployment_status",
        gh.repository_event(
            action="created", deployment_status={"state": "success"}, deployment={"id": 87972451}
        ),
        "87972451",
        REPO,
    ),
    ("fork", gh.repository_event(forkee={"id": 118, "full_name": "octocat/widgets"}), "118", REPO),
    (
        "gollum",
        gh.repository_event(
            pages=[{"page_name": "Home", "action": "created"}, {"page_name": "Sprockets", "action": "edited"}]
        ),
        "Home,Sprockets",
        REPO,
    ),
    (
        "installation",
        {"action": "created", "installation": INSTALL, "sender": gh.SENDER},
        "2311213",
        {"installation": "2311213", **SENDER, "action": "created"},
    ),
    (
        "integration_installation",
        {"action": "created", "installation": INSTALL, "sender": gh.SENDER},
        "2311213",
        {"installation": "2311213", **SENDER, "action": "created"},
    ),
    (
        "installation_repositories",
        {
            "action": "added",
            "installation": INSTALL,
            "sender": gh.SENDER,
            "repositories_added": [{"id": 1, "full_name": "acme/widgets"}],
        },
        "2311213",
        {"installation": "2311213", **SENDER, "action": "added"},
    ),
    (
        "integration_installation_repositories",
        {"action": "removed", "installation": INSTALL, "sender": gh.SENDER},
        "2311213",
        {"installation": "2311213", **SENDER, "action": "removed"},
    ),
    (
        "issue_comment",
        gh.repository_event(
            action="created",
            issue={"number": 1},
            comment={
                "id": 393304133,
                "html_url": "https://github.com/acme/widgets/issues/1#issuecomment-393304133",
            },
        ),
        "1#issuecomment-393304133",
        {**REPO, "action": "created"},
    ),
    ("issues", gh.repository_event(action="opened", issue={"number": 7}), "7", {**REPO, "action": "opened"}),
    (
        "issues",
        gh.repository_event(
            action="labeled", issue={"number": 7}, label={"name": "bug"}, assignee={"login": "hubot"}
        ),
        "7",
        {**REPO, "action": "labeled", "label": "bug", "assignee": "hubot"},
    ),
    (
        "label",
        gh.repository_event(action="created", label={"name": ":bug: Bugfix", "color": "cc317c"}),
        ":bug: Bugfix",
        {**REPO, "action": "created", "label": ":bug: Bugfix"},
    ),
    (
        "member",
        gh.repository_event(action="added", member={"login": "hubot", "id": 7}),
        "7",
        {**REPO, "action": "added"},
    ),
    (
        "membership",
        gh.organization_event(
            action="added",
            scope="team",
            member={"login": "hubot", "id": 7},
            team={"id": 2723476, "slug": "gears"},
        ),
        "7",
        {"owner": "acme", "scope": "team", **SENDER, "action": "added"},
    ),
    (
        "milestone",
        gh.repository_event(action="created", milestone={"number": 3, "title": "v1"}),
        "3",
        {**REPO, "action": "created"},
    ),
    (
        "organization",
        gh.organization_event(action="member_added", membership={"role": "member"}),
        "member_added",
        {**ORG, "action": "member_added"},
    ),
    (
        "org_block",
        gh.organization_event(action="blocked", blocked_user={"login": "spammer"}),
        "blocked",
        {**ORG, "action": "blocked"},
    ),
    ("page_build", gh.repository_event(id=15995382, build={"status": "built"}), "15995382", REPO),
    ("ping", gh.ping(), "480012345", REPO),
    (
        "project_card",
        gh.repository_event(action="created", project_card={"id": 1}),
        "created",
        {**REPO, "action": "created"},
    ),
    (
        "project_column",
        gh.repository_event(action="moved", project_column={"id": 2}),
        "moved",
        {**REPO, "action": "moved"},
    ),
    (
        "project",
        gh.repository_event(action="closed", project={"id": 3}),
        "closed",
        {**REPO, "action": "closed"},
    ),
    ("public", gh.repository_event(), "81234567", REPO),
    (
        "pull_request",
        {**gh.pull_request("opened", 42), "installation": {"id": 5}},
        "42",
        {**REPO, "installation": "5", "action": "opened", "number": "42"},
    ),
    (
        "pull_request",
        {**gh.pull_request("labeled", 43), "label": {"name": "enhancement"}, "assignee": {"login": "hubot"}},
        "43",
        {**REPO, "action": "labeled", "number": "43", "label": "enhancement", "assignee": "hubot"},
    ),
    (
        "pull_request_review_comment",
        gh.repository_event(action="created", comment={"id": 191908831}, pull_request={"number": 1}),
        "191908831",
        {**REPO, "action": "created"},
    ),
    (
        "pull_request_review",
        gh.repository_event(
            action="submitted", review={"id": 237895671, "state": "commented"}, pull_request={"number": 1}
        ),
        "237895671",
        {**REPO, "action": "submitted", "review": "commented"},
    ),
    (
        "push",
        gh.push(),
        "9a1f3b7c2d4e...0d1e2f3a4b5c",
        {
            **REPO,
            "pusher": "octocat",
            "ref": "refs/heads/main",
            "created": "false",
            "deleted": "false",
            "forced": "false",
        },
    ),
    (
        "release",
        {**gh.release("v1.2.0"), "installation": {"id": 5}},
        "v1.2.0",
        {**REPO, "installation": "5", "action": "published", "release": "v1.2.0"},
    ),
    ("repository", gh.repository_event(action="publicized"), "81234567", {**REPO, "action": "publicized"}),
    (
        "repository_vulnerability_alert",
        gh.repository_event(action="create", alert={"id": 91095730, "affected_package_name": "left-pad"}),
        "91095730",
        {"action": "create"},
    ),
    (
        "security_advisory",
        {"action": "published", "security_advisory": {"ghsa_id": "GHSA-rf4j-j272-fj86"}},
        "GHSA-rf4j-j272-fj86",
        {"action": "published"},
    ),
    (
        "status",
        gh.repository_event(sha=COMMIT, name="acme/widgets", state="success", context="ci/build"),
        COMMIT,
        {**REPO, "state": "success", "name": "acme/widgets", "context": "ci/build"},
    ),
    (
        "team",
        gh.organization_event(action="created", team={"id": 2723476, "slug": "gears"}),
        "2723476",
        {**SENDER, "action": "created"},
    ),
    ("team_add", gh.repository_event(team={"id": 2723476}), "81234567", REPO),
    ("watch", gh.repository_event(action="started"), "81234567", {**REPO, "action": "started"}),
]

# Events Knative answers 404: eventwire's rule (a subject where one object is meant, and the
# common owner/repository/installation/sender/action extensions where the payload has them).
OWN_CASES: list[tuple[str, dict[str, Any], str | None, dict[str, str]]] = [
    (
        "deployment_review",
        gh.repository_event(action="approved", workflow_run={"id": 30433642}, approver={"login": "hubot"}),
        "30433642",
        {**REPO, "action": "approved"},
    ),
    (
        "github_app_authorization",
        {"action": "revoked", "sender": gh.SENDER},
        None,
        {**SENDER, "action": "revoked"},
    ),
    (
        "marketplace_purchase",
        {
            "action": "purchased",
            "sender": gh.SENDER,
            "marketplace_purchase": {"account": {"login": "acme"}, "plan": {"id": 7}},
        },
        "acme",
        {**SENDER, "action": "purchased"},
    ),
    (
        "projects_v2_item",
        gh.organization_event(action="edited", projects_v2_item={"id": 12, "node_id": "PVTI_1"}),
        "12",
        {**ORG, "action": "edited"},
    ),
    (
        "repository_import",
        {**gh.repository_event(status="success"), "organization": gh.ORGANIZATION},
        "81234567",
        REPO,
    ),
    (
        "merge_group",
        {
            **gh.repository_event(action="checks_requested", merge_group={"head_sha": COMMIT}),
            "installation": {"id": 5},
        },
        COMMIT,
        {**REPO, "installation": "5", "action": "checks_requested"},
    ),
    (
        "workflow_run",
        gh.repository_event(action="completed", workflow_run={"id": 30433642}),
        "30433642",
        {**REPO, "action": "completed"},
    ),
]


async def _deliver(cases: list[tuple[str, dict[str, Any], str | None, dict[str, str]]]) -> list[Any]:
    # Every event subscribed, as spec.eventTypes listing all of them sets it (ping included).
    async with (
        webhook(GITHUB_EVENT_TYPES=",".join(GITHUB_EVENTS)) as (url, sink),
        aiohttp.ClientSession() as session,
    ):
        for index, (name, payload, _, _) in enumerate(cases):
            headers = gh.headers(name, f"delivery-{index}")
            async with session.post(url, data=gh.encode(payload), headers=headers) as response:
                assert response.status == 202, (name, await response.text())
        await sink.wait_for(len(cases))
    return [from_http_event(HTTPMessage(headers=e.headers, body=e.body)) for e in sink.received]


def _check(events: list[Any], cases: list[tuple[str, dict[str, Any], str | None, dict[str, str]]]) -> None:
    core = {"specversion", "id", "source", "type", "subject", "time", "datacontenttype"}
    for event, (name, payload, subject, extensions) in zip(events, cases, strict=True):
        attributes = event.get_attributes()
        assert attributes["type"] == f"dev.knative.source.github.{name}"
        assert attributes["source"] == "https://github.com/acme/widgets"
        assert attributes.get("subject") == subject, name
        assert {k: v for k, v in attributes.items() if k not in core} == extensions, name
        assert event.get_data() == payload


async def test_every_event_knative_parses_gets_knatives_subject_and_extensions() -> None:
    assert {name for name, *_ in KNATIVE_CASES} == KNATIVE_GITHUB_EVENTS
    _check(await _deliver(KNATIVE_CASES), KNATIVE_CASES)


async def test_events_knative_refuses_follow_eventwires_rule() -> None:
    _check(await _deliver(OWN_CASES), OWN_CASES)


def test_every_catalogued_event_has_a_rule_and_a_documented_row() -> None:
    assert set(RULES) == set(GITHUB_EVENTS)
    documented = (ROOT / "docs/github-events.md").read_text()
    assert render_markdown() in documented, (
        "regenerate with python -m eventwire_runtime.adapters.github_attributes"
    )


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                ["id", "number", "name", "login", "owner", "repository", "pages", "page_name", "x"]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None)
@given(event=st.sampled_from([*GITHUB_EVENTS, "not_yet_invented"]), payload=_JSON)
def test_any_payload_gives_string_attributes_with_valid_names(event: str, payload: Any) -> None:
    subject, extensions = subject_and_extensions(event, payload)
    assert subject is None or (isinstance(subject, str) and subject)
    assert all(valid_extension_name(name) and isinstance(value, str) for name, value in extensions.items())
