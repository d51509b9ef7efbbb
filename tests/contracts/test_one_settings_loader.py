"""Controller, dispatcher and adapters read the environment through one loader: the same value
means the same thing everywhere, and every bad value is a SettingsError naming its variable."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest

from eventwire_runtime.adapters.env import AdapterEnv
from eventwire_runtime.controller.settings import ControllerSettings
from eventwire_runtime.dispatcher.settings import parse_settings
from eventwire_runtime.errors import ConfigError, EventwireError, SettingsError

Parse = Callable[[Mapping[str, str]], object]
COMPONENTS: dict[str, tuple[Parse, dict[str, str]]] = {
    "controller": (ControllerSettings.from_env, {}),
    "dispatcher": (lambda env: parse_settings([], env), {"EVENTWIRE_ROUTES_FILE": "/routes.yaml"}),
    "adapter": (lambda env: AdapterEnv.from_environ("pingsource", env), {"K_SINK": "http://sink"}),
}


@pytest.mark.parametrize(
    ("component", "variable", "value", "says"),
    [
        ("controller", "EVENTWIRE_GITHUB_TIMEOUT", "soon", "EVENTWIRE_GITHUB_TIMEOUT must be a number"),
        ("dispatcher", "EVENTWIRE_ACK_WAIT", "soon", "EVENTWIRE_ACK_WAIT must be seconds .* or ISO-8601"),
        ("adapter", "K_SHUTDOWN_TIMEOUT", "soon", "K_SHUTDOWN_TIMEOUT must be seconds .* or ISO-8601"),
        ("dispatcher", "EVENTWIRE_PORT", "70000", "EVENTWIRE_PORT must be at most 65535"),
        ("adapter", "METRICS_PORT", "70000", "METRICS_PORT must be at most 65535"),
        ("dispatcher", "EVENTWIRE_LOG_LEVEL", "loud", "EVENTWIRE_LOG_LEVEL must be one of DEBUG"),
        ("adapter", "LOG_LEVEL", "loud", "LOG_LEVEL must be one of DEBUG"),
    ],
)
def test_a_bad_value_is_a_settings_error_naming_the_variable(
    component: str, variable: str, value: str, says: str
) -> None:
    parse, base = COMPONENTS[component]
    with pytest.raises(SettingsError, match=says) as caught:
        parse({**base, variable: value})
    assert isinstance(caught.value, ConfigError)
    assert isinstance(caught.value, EventwireError)


@pytest.mark.parametrize(
    ("component", "variable", "read"),
    [
        ("dispatcher", "EVENTWIRE_SHUTDOWN_TIMEOUT", lambda s: s.shutdown_timeout),
        ("adapter", "K_SHUTDOWN_TIMEOUT", lambda s: s.shutdown_timeout),
    ],
)
def test_durations_take_seconds_or_iso8601_alike(
    component: str, variable: str, read: Callable[[object], float]
) -> None:
    parse, base = COMPONENTS[component]
    assert read(parse({**base, variable: "PT2.5S"})) == read(parse({**base, variable: "2.5"})) == 2.5
