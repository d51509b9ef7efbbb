"""Read a Pulumi project (Pulumi.yaml) and a stack file the way the Pulumi CLI would hand them
to a program: project defaults, then the stack's values, as "project:key" -> string.

Encrypted (`secure:`) values cannot be decrypted without the Pulumi CLI; they become a
placeholder marked secret, which the render redacts anyway.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from eventwire.exceptions import ConfigError

SECRET_PLACEHOLDER = "encrypted-stack-secret"


@dataclass(frozen=True)
class Project:
    """A Pulumi project: its folder, name, program folder, stack folder and config schema."""

    root: Path
    name: str
    main: Path
    stack_dir: Path
    schema: Mapping[str, Any]

    def stack_file(self, stack: str) -> Path:
        return self.stack_dir / f"Pulumi.{stack}.yaml"

    def stacks(self) -> list[str]:
        """The stacks that have a file, sorted."""
        return sorted(
            path.name[len("Pulumi.") : -len(".yaml")] for path in self.stack_dir.glob("Pulumi.*.yaml")
        )


def find_project(start: Path | None = None) -> Project:
    """The project whose Pulumi.yaml is in `start` (default: the working folder) or a parent."""
    here = (start or Path.cwd()).resolve()
    for folder in [here, *here.parents]:
        path = folder / "Pulumi.yaml"
        if path.is_file():
            return load_project(path)
    raise ConfigError(f"no Pulumi.yaml in {here} or its parents")


def load_project(path: Path) -> Project:
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict) or not data.get("name"):
        raise ConfigError(f"{path}: not a Pulumi project file (no name)")
    root = path.parent
    return Project(
        root=root,
        name=str(data["name"]),
        main=root / str(data.get("main", ".")),
        stack_dir=root / str(data.get("stackConfigDir", ".")),
        schema=data.get("config") or {},
    )


def config_string(value: Any) -> str:
    """A config value as the CLI passes it to programs: JSON for lists and maps."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def stack_config(
    project: Project,
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], list[str]]:
    """(config, secret keys) for `stack`: project defaults < stack file < overrides < secrets.

    Keys of `overrides` and `secrets` may omit the project prefix.
    """
    path = project.stack_file(stack)
    if not path.is_file():
        known = ", ".join(project.stacks()) or "none"
        raise ConfigError(f"no stack file {path} (stacks: {known})")
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, spec in project.schema.items():
        if isinstance(spec, Mapping) and "default" in spec:
            config[_qualified(project, key)] = config_string(spec["default"])
    stack_data = yaml.safe_load(path.read_text()) or {}
    for key, value in (stack_data.get("config") or {}).items():
        full = _qualified(project, key)
        if isinstance(value, Mapping) and set(value) == {"secure"}:
            config[full] = SECRET_PLACEHOLDER
            secret_keys.append(full)
        else:
            config[full] = config_string(value)
    for key, value in (overrides or {}).items():
        config[_qualified(project, key)] = config_string(value)
    for key, value in (secrets or {}).items():
        full = _qualified(project, key)
        config[full] = value
        secret_keys.append(full)
    return config, secret_keys


def _qualified(project: Project, key: str) -> str:
    return key if ":" in key else f"{project.name}:{key}"
