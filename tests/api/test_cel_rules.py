"""Every CEL rule in the CRDs, evaluated with a CEL interpreter on values it must accept and reject.

The table is keyed by the rule text, and a guard test fails when a CRD gains a rule the table
does not exercise both ways, so no rule is only written and never run.
"""

from __future__ import annotations

from typing import Any

import pytest

from eventwire.api import render_crds
from eventwire.api.cel import evaluate_rule

DESTINATION_SET = "has(self.ref) || has(self.uri)"
DESTINATION_ABSOLUTE = (
    "has(self.ref) || !has(self.uri) || self.uri.matches('^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]+')"
)
REF = {"apiVersion": "v1", "kind": "Service", "name": "display"}

# rule -> [(self, oldSelf or None, expected)]
CASES: dict[str, list[tuple[Any, Any, bool]]] = {
    DESTINATION_SET: [
        ({"uri": "http://a"}, None, True),
        ({"ref": REF}, None, True),
        ({}, None, False),
        ({"CACerts": "pem"}, None, False),
    ],
    DESTINATION_ABSOLUTE: [
        ({"uri": "http://display.default.svc"}, None, True),
        ({"uri": "https://example.com:8443/x?y=1"}, None, True),
        ({"ref": REF, "uri": "/relative/path"}, None, True),
        ({"ref": REF}, None, True),
        ({"uri": "/relative/path"}, None, False),
        ({"uri": "display.default.svc"}, None, False),
        ({"uri": "http://"}, None, False),
    ],
    "!self.endsWith('P') && !self.endsWith('T')": [
        ("PT1S", None, True),
        ("P1D", None, True),
        ("P", None, False),
        ("PT", None, False),
        ("P1DT", None, False),
    ],
    "!(has(self.data) && has(self.dataBase64))": [
        ({"data": "x"}, None, True),
        ({"dataBase64": "eA=="}, None, True),
        ({}, None, True),
        ({"data": "x", "dataBase64": "eA=="}, None, False),
    ],
    "!has(self.timezone) || !(self.schedule.startsWith('CRON_TZ=') || self.schedule.startsWith('TZ='))": [
        ({"schedule": "0 * * * *", "timezone": "Europe/Berlin"}, None, True),
        ({"schedule": "CRON_TZ=Europe/Berlin 0 * * * *"}, None, True),
        ({"schedule": "CRON_TZ=Europe/Berlin 0 * * * *", "timezone": "Europe/Berlin"}, None, False),
        ({"schedule": "TZ=UTC 0 * * * *", "timezone": "Asia/Tokyo"}, None, False),
    ],
    "(!has(self.jetstream) || self.type == 'jetstream') && (!has(self.redis) || self.type == 'redis') && "
    "(!has(self.inMemory) || self.type == 'in-memory')": [
        ({"type": "jetstream", "jetstream": {"url": "nats://n"}}, None, True),
        ({"type": "in-memory", "inMemory": {"capacity": 1}}, None, True),
        ({"type": "in-memory"}, None, True),
        ({"type": "redis", "redis": {"url": "redis://r"}, "jetstream": {"url": "nats://n"}}, None, False),
        ({"type": "jetstream", "jetstream": {"url": "nats://n"}, "inMemory": {}}, None, False),
    ],
    "self.type != 'jetstream' || has(self.jetstream)": [
        ({"type": "jetstream", "jetstream": {"url": "nats://n"}}, None, True),
        ({"type": "redis"}, None, True),
        ({"type": "jetstream"}, None, False),
    ],
    "self.type != 'redis' || has(self.redis)": [
        ({"type": "redis", "redis": {"url": "redis://r"}}, None, True),
        ({"type": "in-memory"}, None, True),
        ({"type": "redis"}, None, False),
    ],
    "has(self.subscriber) || has(self.reply)": [
        ({"subscriber": {"uri": "http://a"}}, None, True),
        ({"reply": {"uri": "http://a"}}, None, True),
        ({"channel": {}}, None, False),
    ],
    "has(self.subscription) || (has(self.createSubscription) && self.createSubscription)": [
        ({"subscription": "s"}, None, True),
        ({"createSubscription": True}, None, True),
        ({"createSubscription": False}, None, False),
        ({}, None, False),
    ],
    "self == oldSelf": [
        ({"kind": "Channel", "name": "a"}, {"name": "a", "kind": "Channel"}, True),
        ("jetstream", "jetstream", True),
        ({"kind": "Channel", "name": "b"}, {"kind": "Channel", "name": "a"}, False),
        ("redis", "jetstream", False),
    ],
    "self.apiVersion == 'messaging.eventwire.dev/v1' && self.kind == 'Channel'": [
        ({"apiVersion": "messaging.eventwire.dev/v1", "kind": "Channel", "name": "a"}, None, True),
        ({"apiVersion": "messaging.knative.dev/v1", "kind": "Channel", "name": "a"}, None, False),
        ({"apiVersion": "messaging.eventwire.dev/v1", "kind": "InMemoryChannel", "name": "a"}, None, False),
    ],
    "self.all(k, k.matches('^[a-z0-9]{1,20}$'))": [
        ({"team": "a", "tier2": "b"}, None, True),
        ({}, None, True),
        ({"Team": "a"}, None, False),
        ({"my-ext": "a"}, None, False),
        ({"a" * 21: "a"}, None, False),
    ],
    "self.all(k, !(k in ['id', 'source', 'specversion', 'type', 'datacontenttype', 'dataschema', 'subject', "
    "'time', 'data', 'data_base64']))": [
        ({"team": "a"}, None, True),
        ({"source": "x"}, None, False),
        ({"team": "a", "type": "x"}, None, False),
    ],
    # Trigger filters: attribute maps (filter.attributes, filters[].exact/prefix/suffix).
    "self.all(k, k.matches('^[a-z0-9]+$'))": [
        ({"type": "a", "myext1": "b"}, None, True),
        ({}, None, True),
        ({"Type": "a"}, None, False),
        ({"my_ext": "a"}, None, False),
        ({"": "a"}, None, False),
    ],
    "self.all(k, self[k] != '')": [
        ({"type": "a"}, None, True),
        ({"type": "a", "source": ""}, None, False),
    ],
}


def all_rules() -> set[str]:
    rules: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            rules.update(v["rule"] for v in node.get("x-kubernetes-validations", []))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(render_crds())
    return rules


def test_every_crd_rule_is_exercised_both_ways() -> None:
    rules = all_rules()
    assert rules - set(CASES) == set(), "CEL rules without test cases"
    assert set(CASES) - rules == set(), "test cases for rules no CRD has"
    for rule, cases in CASES.items():
        assert {expected for *_, expected in cases} == {True, False}, rule


@pytest.mark.parametrize(
    ("rule", "value", "old", "expected"),
    [(rule, value, old, expected) for rule, cases in CASES.items() for value, old, expected in cases],
)
def test_rule(rule: str, value: Any, old: Any, expected: bool) -> None:
    assert evaluate_rule(rule, value, old) is expected


def test_a_rule_that_cannot_be_evaluated_says_why() -> None:
    outcome = evaluate_rule("self.uri.matches('x')", {})
    assert isinstance(outcome, str)
    assert "uri" in outcome
