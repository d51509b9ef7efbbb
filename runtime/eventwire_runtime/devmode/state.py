"""The running `dev up`'s addresses, for `dev send`: a JSON file only the user can read (it
holds the local GitHub webhook secrets). Default path: `$XDG_RUNTIME_DIR/eventwire-dev.json`,
else `<temp dir>/eventwire-dev-<uid>.json`; `--state FILE` (or EVENTWIRE_DEV_STATE) overrides it."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eventwire_runtime.delivery.errors import ConfigError


def default_path() -> Path:
    explicit = os.environ.get("EVENTWIRE_DEV_STATE")
    if explicit:
        return Path(explicit)
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if runtime_dir and Path(runtime_dir).is_dir():
        return Path(runtime_dir) / "eventwire-dev.json"
    return Path(tempfile.gettempdir()) / f"eventwire-dev-{os.getuid()}.json"


def write(path: Path, state: Mapping[str, Any]) -> None:
    """Write atomically, readable by the user only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(state, out, indent=2)
    os.replace(partial, path)


def read(path: Path) -> dict[str, Any]:
    """The state of the running `dev up`.

    Raises:
        ConfigError: when no `dev up` is running (or its file is unreadable).
    """
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"no eventwire dev up is running (no {path}); start one first") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    pid = state.get("pid")
    if isinstance(pid, int):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            raise ConfigError(f"the eventwire dev up that wrote {path} (pid {pid}) is not running") from None
        except PermissionError:
            pass
    return state


def remove(path: Path) -> None:
    path.unlink(missing_ok=True)
