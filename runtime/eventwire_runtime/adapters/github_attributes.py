"""The `subject` and extension attributes of each GitHub event, as Knative's GitHubSource sets them.

For the events Knative's eventing-github adapter parses (`KNATIVE_GITHUB_EVENTS`), the rules
below are that adapter's `SubjectAndExtensionsFromGitHubEvent`, field for field, so consumers and
filters written for Knative keep working: e.g. a pull request's subject is its number and it
carries `owner`, `repository`, `installation`, `sender`, `action`, `number`, `label` and
`assignee`. One deliberate difference: Knative decodes payloads into Go structs, so a field the
payload lacks still yields its zero value (`installation: 0`, `label: ""`); eventwire sets only
the attributes whose field the payload has.

GitHub events Knative does not parse (it answers 404) get eventwire's own rule: a subject from
`_OWN_SUBJECTS` where the payload names a single object, and the common `owner`, `repository`,
`sender`, `action` and `installation` extensions where present.

Values are CloudEvents strings: integers in decimal, booleans `true`/`false`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from eventwire_spec.github_events import GITHUB_EVENTS, KNATIVE_GITHUB_EVENTS

Step = str | int
Form = Literal["text", "last_path_portion", "page_names"]


@dataclass(frozen=True)
class Field:
    """A payload field (`path`) and how it becomes an attribute value (`form`)."""

    path: tuple[Step, ...]
    form: Form = "text"
    fallback: tuple[Step, ...] | None = None  # read when the payload lacks `path`

    def describe(self) -> str:
        dotted = ".".join(str(step) for step in self.path)
        if self.fallback is not None:
            return f"`{dotted}`, else `{'.'.join(str(step) for step in self.fallback)}`"
        if self.form == "last_path_portion":
            return f"`{dotted}` after its last `/`"
        if self.form == "page_names":
            return "the `pages[].page_name`, joined with `,`"
        return f"`{dotted}`"


@dataclass(frozen=True)
class EventAttributes:
    """The subject (None: no subject) and extensions (name → field) of one GitHub event."""

    subject: Field | None
    extensions: tuple[tuple[str, Field], ...]


def _f(*path: Step, form: Form = "text") -> Field:
    return Field(path, form)


OWNER = ("owner", _f("repository", "owner", "login"))
ORG_OWNER = ("owner", _f("organization", "login"))
REPOSITORY = ("repository", _f("repository", "name"))
SENDER = ("sender", _f("sender", "login"))
ACTION = ("action", _f("action"))
INSTALLATION = ("installation", _f("installation", "id"))
REPO = (OWNER, REPOSITORY, SENDER)


def _knative(subject: Field | None, *extensions: tuple[str, Field]) -> EventAttributes:
    return EventAttributes(subject, extensions)


# Knative's eventing-github rules (pkg/common/events.go), in its extension order.
KNATIVE_RULES: Final[dict[str, EventAttributes]] = {
    "check_run": _knative(_f("check_run", "id"), *REPO, ACTION),
    "check_suite": _knative(_f("check_suite", "id"), *REPO, ACTION),
    "commit_comment": _knative(_f("comment", "html_url", form="last_path_portion"), *REPO, ACTION),
    "create": _knative(_f("ref_type"), *REPO, ("ref", _f("ref"))),
    "delete": _knative(_f("ref_type"), *REPO, ("ref", _f("ref"))),
    "deployment": _knative(_f("deployment", "id"), *REPO),
    "deployment_status": _knative(_f("deployment", "id"), *REPO),
    "fork": _knative(_f("forkee", "id"), *REPO),
    "gollum": _knative(_f("pages", form="page_names"), *REPO),
    "installation": _knative(_f("installation", "id"), INSTALLATION, SENDER, ACTION),
    "integration_installation": _knative(_f("installation", "id"), INSTALLATION, SENDER, ACTION),
    "installation_repositories": _knative(_f("installation", "id"), INSTALLATION, SENDER, ACTION),
    "integration_installation_repositories": _knative(_f("installation", "id"), INSTALLATION, SENDER, ACTION),
    "issue_comment": _knative(_f("comment", "html_url", form="last_path_portion"), *REPO, ACTION),
    "issues": _knative(
        _f("issue", "number"),
        *REPO,
        ACTION,
        ("label", _f("label", "name")),
        ("assignee", _f("assignee", "login")),
    ),
    "label": _knative(_f("label", "name"), *REPO, ACTION, ("label", _f("label", "name"))),
    "member": _knative(_f("member", "id"), *REPO, ACTION),
    "membership": _knative(_f("member", "id"), ORG_OWNER, ("scope", _f("scope")), SENDER, ACTION),
    "milestone": _knative(_f("milestone", "number"), *REPO, ACTION),
    "organization": _knative(_f("action"), ORG_OWNER, SENDER, ACTION),
    "org_block": _knative(_f("action"), ORG_OWNER, SENDER, ACTION),
    "page_build": _knative(_f("id"), *REPO),
    "ping": _knative(_f("hook_id"), *REPO),
    "project_card": _knative(_f("action"), *REPO, ACTION),
    "project_column": _knative(_f("action"), *REPO, ACTION),
    "project": _knative(_f("action"), *REPO, ACTION),
    "public": _knative(_f("repository", "id"), *REPO),
    "pull_request": _knative(
        _f("pull_request", "number"),
        OWNER,
        REPOSITORY,
        INSTALLATION,
        SENDER,
        ACTION,
        ("number", _f("number")),
        ("label", _f("label", "name")),
        ("assignee", _f("assignee", "login")),
    ),
    "pull_request_review_comment": _knative(
        _f("comment", "id"), OWNER, REPOSITORY, INSTALLATION, SENDER, ACTION
    ),
    "pull_request_review": _knative(
        _f("review", "id"), OWNER, REPOSITORY, INSTALLATION, SENDER, ACTION, ("review", _f("review", "state"))
    ),
    "push": _knative(
        _f("compare", form="last_path_portion"),
        OWNER,
        REPOSITORY,
        INSTALLATION,
        SENDER,
        ("pusher", _f("pusher", "name")),
        ("ref", _f("ref")),
        ("created", _f("created")),
        ("deleted", _f("deleted")),
        ("forced", _f("forced")),
    ),
    "release": _knative(
        _f("release", "tag_name"),
        OWNER,
        REPOSITORY,
        INSTALLATION,
        SENDER,
        ACTION,
        ("release", _f("release", "name")),
    ),
    "repository": _knative(_f("repository", "id"), *REPO, ACTION),
    "repository_vulnerability_alert": _knative(_f("alert", "id"), ACTION),
    "security_advisory": _knative(_f("security_advisory", "ghsa_id"), ACTION),
    "status": _knative(
        _f("sha"), *REPO, ("state", _f("state")), ("name", _f("name")), ("context", _f("context"))
    ),
    "team": _knative(_f("team", "id"), SENDER, ACTION),
    "team_add": _knative(_f("repository", "id"), *REPO),
    "watch": _knative(_f("repository", "id"), *REPO, ACTION),
}

# eventwire's subjects for the events Knative does not parse; None where no single object is
# the event's subject. Chosen in Knative's spirit: an id or number of the object acted on.
_OWN_SUBJECTS: Final[dict[str, Field | None]] = {
    "branch_protection_configuration": None,
    "branch_protection_rule": _f("rule", "id"),
    "code_scanning_alert": _f("alert", "number"),
    "custom_property": _f("definition", "property_name"),
    "custom_property_values": _f("repository", "id"),
    "dependabot_alert": _f("alert", "number"),
    "deploy_key": _f("key", "id"),
    "deployment_protection_rule": _f("deployment", "id"),
    "deployment_review": _f("workflow_run", "id"),
    "discussion": _f("discussion", "number"),
    "discussion_comment": _f("comment", "html_url", form="last_path_portion"),
    "github_app_authorization": None,
    "installation_target": _f("installation", "id"),
    "issue_dependencies": _f("blocked_issue", "number"),
    "marketplace_purchase": _f("marketplace_purchase", "account", "login"),
    "merge_group": _f("merge_group", "head_sha"),
    "meta": _f("hook_id"),
    "package": _f("package", "id"),
    "personal_access_token_request": _f("personal_access_token_request", "id"),
    "projects_v2": _f("projects_v2", "id"),
    "projects_v2_item": _f("projects_v2_item", "id"),
    "projects_v2_status_update": _f("projects_v2_status_update", "id"),
    "pull_request_review_thread": _f("thread", "node_id"),
    "registry_package": _f("registry_package", "id"),
    "repository_advisory": _f("repository_advisory", "ghsa_id"),
    "repository_dispatch": _f("action"),
    "repository_import": _f("repository", "id"),
    "repository_ruleset": _f("repository_ruleset", "id"),
    "secret_scanning_alert": _f("alert", "number"),
    "secret_scanning_alert_location": _f("alert", "number"),
    "secret_scanning_scan": None,
    "security_and_analysis": _f("repository", "id"),
    "sponsorship": _f("sponsorship", "node_id"),
    "star": _f("repository", "id"),
    "sub_issues": _f("sub_issue", "number"),
    "workflow_dispatch": _f("workflow"),
    "workflow_job": _f("workflow_job", "id"),
    "workflow_run": _f("workflow_run", "id"),
}
# Organisation-level events have no repository: their owner is the organisation.
_OWN_EXTENSIONS: Final = (
    ("owner", Field(("repository", "owner", "login"), fallback=("organization", "login"))),
    REPOSITORY,
    INSTALLATION,
    SENDER,
    ACTION,
)

RULES: Final[dict[str, EventAttributes]] = {
    name: KNATIVE_RULES[name]
    if name in KNATIVE_GITHUB_EVENTS
    else EventAttributes(_OWN_SUBJECTS[name], _OWN_EXTENSIONS)
    for name in GITHUB_EVENTS
}
_UNKNOWN: Final = EventAttributes(None, _OWN_EXTENSIONS)


def _lookup(payload: Any, path: tuple[Step, ...]) -> Any:
    value = payload
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, list) or len(value) <= step:
                return None
            value = value[step]
        else:
            if not isinstance(value, Mapping) or step not in value:
                return None
            value = value[step]
    return value


def _text(value: Any) -> str | None:
    """A JSON scalar as its CloudEvents string form; None for objects, arrays and null."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return None


def value_of(payload: Any, field: Field) -> str | None:
    """The attribute value `field` gives for `payload`, or None when the payload lacks it."""
    value = _lookup(payload, field.path)
    if value is None and field.fallback is not None:
        value = _lookup(payload, field.fallback)
    if field.form == "page_names":
        if not isinstance(value, list):
            return None
        names = [_lookup(page, ("page_name",)) for page in value]
        return ",".join(name for name in names if isinstance(name, str))
    text = _text(value)
    if text is not None and field.form == "last_path_portion":
        text = text.rpartition("/")[2] if "/" in text else ""
    return text


def attributes_for(event_name: str) -> EventAttributes:
    """The rules for `event_name` (eventwire's general rule for a name GitHub adds later)."""
    return RULES.get(event_name, _UNKNOWN)


def subject_and_extensions(event_name: str, payload: Any) -> tuple[str | None, dict[str, str]]:
    """The `subject` (None when empty or absent) and extension attributes of one delivery."""
    rules = attributes_for(event_name)
    subject = value_of(payload, rules.subject) if rules.subject is not None else None
    extensions: dict[str, str] = {}
    for name, field in rules.extensions:
        value = value_of(payload, field)
        if value is not None:
            extensions[name] = value
    return subject or None, extensions


def render_markdown() -> str:
    """The per-event table of docs/github-events.md."""
    lines = [
        "| GitHub event | in Knative | subject | extensions |",
        "| --- | --- | --- | --- |",
    ]
    for name in GITHUB_EVENTS:
        rules = RULES[name]
        subject = rules.subject.describe() if rules.subject is not None else "none"
        extensions = "; ".join(f"`{ext}` ← {field.describe()}" for ext, field in rules.extensions)
        knative = "yes" if name in KNATIVE_GITHUB_EVENTS else "no (404)"
        lines.append(f"| `{name}` | {knative} | {subject} | {extensions} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_markdown())
