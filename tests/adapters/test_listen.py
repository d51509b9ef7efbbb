"""LISTEN_ADDRESS: where the adapter's HTTP servers bind (every interface unless set)."""

from __future__ import annotations

import pytest

from eventwire_runtime.adapters.listen import listen_address
from eventwire_runtime.delivery.errors import ConfigError


@pytest.mark.parametrize(
    ("environ", "expected"),
    [({}, "0.0.0.0"), ({"LISTEN_ADDRESS": " 127.0.0.1 "}, "127.0.0.1"), ({"LISTEN_ADDRESS": "::1"}, "::1")],
)
def test_listen_address_defaults_to_every_interface(environ: dict[str, str], expected: str) -> None:
    assert listen_address(environ) == expected


def test_a_listen_address_that_is_not_an_ip_address_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="LISTEN_ADDRESS must be an IP address, got 'localhost:80'"):
        listen_address({"LISTEN_ADDRESS": "localhost:80"})
