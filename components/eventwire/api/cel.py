"""Evaluate a CRD's `x-kubernetes-validations` CEL rules the way the API server does.

The API server runs these rules on create and update; evaluating them here (with cel-python)
lets `eventwire validate` and the tests catch the same mistakes without a cluster.
Semantics kept from Kubernetes: a rule applies to the value at its schema node, with `self`
bound to that value; rules that mention `oldSelf` (transition rules) run only on updates where
the old object has a value at the same path; absent optional fields are not validated.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

import celpy
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

from eventwire.api.paths import join_path
from eventwire.exceptions import FieldError

_environment = celpy.Environment()


@functools.cache
def _program(rule: str) -> Any:
    return _environment.program(_environment.compile(rule))


def evaluate_rule(rule: str, value: Any, old_value: Any = None) -> bool | str:
    """True or False for the rule applied to `value`, or an error text if evaluation failed."""
    activation = {"self": json_to_cel(value)}
    if old_value is not None:
        activation["oldSelf"] = json_to_cel(old_value)
    try:
        result = _program(rule).evaluate(activation)
    except Exception as exc:  # cel-python raises its own evaluation errors as various types
        return f"rule could not be evaluated: {exc}"
    if isinstance(result, CELEvalError):
        return f"rule could not be evaluated: {result.args[0] if result.args else result}"
    return bool(result)


def _children(schema: Mapping[str, Any], value: Any) -> Iterator[tuple[str | int, Mapping[str, Any], Any]]:
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for key, child in value.items():
            if key in properties:
                yield key, properties[key], child
            elif isinstance(additional, dict):
                yield key, additional, child
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, child in enumerate(value):
            yield index, schema["items"], child


def cel_errors(
    schema: Mapping[str, Any],
    value: Any,
    old_value: Any = None,
    path: tuple[str | int, ...] = (),
    *,
    report_eval_errors: bool = True,
) -> list[FieldError]:
    """Every failed CEL rule in `value` (and below), checked against `schema`'s rules.

    With report_eval_errors=False, rules that fail to evaluate (not rules that evaluate to
    false) are left out: on an object already known to be malformed they only repeat that.
    """
    errors: list[FieldError] = []
    for validation in schema.get("x-kubernetes-validations") or ():
        rule = validation["rule"]
        is_transition = "oldSelf" in rule
        if is_transition and old_value is None:
            continue
        outcome = evaluate_rule(rule, value, old_value if is_transition else None)
        if isinstance(outcome, str) and not report_eval_errors:
            continue
        if outcome is not True:
            message = validation.get("message") or f"failed rule: {rule}"
            if isinstance(outcome, str):
                message = f"{message} ({outcome})"
            errors.append(FieldError(join_path(path), message))
    for key, child_schema, child_value in _children(schema, value):
        old_child = _old_child(old_value, key, child_schema)
        errors.extend(
            cel_errors(
                child_schema, child_value, old_child, (*path, key), report_eval_errors=report_eval_errors
            )
        )
    return errors


def _old_child(old_value: Any, key: str | int, child_schema: Mapping[str, Any]) -> Any:
    # Kubernetes correlates old and new values through object keys and map-type lists only;
    # positional list items have no old value, so their transition rules do not run.
    if isinstance(key, str) and isinstance(old_value, dict):
        return old_value.get(key)
    return None
