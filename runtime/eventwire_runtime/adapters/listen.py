"""Where an adapter's HTTP servers listen (the webhook receiver and the admin port).

LISTEN_ADDRESS  optional; the IP address to bind (default 0.0.0.0, every interface, as a
                pod needs). `eventwire dev` sets 127.0.0.1 so a laptop's webhook receiver
                and metrics are not reachable from the network.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from eventwire_runtime.settings import SettingsError, env_str

DEFAULT_LISTEN_ADDRESS = "0.0.0.0"


def listen_address(environ: Mapping[str, str]) -> str:
    """LISTEN_ADDRESS, checked to be an IP address.

    Raises:
        SettingsError: naming the bad value.
    """
    value = env_str(environ, "LISTEN_ADDRESS", DEFAULT_LISTEN_ADDRESS)
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise SettingsError(f"LISTEN_ADDRESS must be an IP address, got {value!r}") from None
