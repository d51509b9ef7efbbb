"""Read Kubernetes manifests from YAML files and folders, keeping where each document came from."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Document:
    """One YAML document: its parsed content (or the parse error) and its place."""

    path: Path
    index: int
    content: Any = None
    error: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path}[{self.index}]" if self.index else str(self.path)


def yaml_files(paths: Sequence[str | Path]) -> Iterator[Path]:
    """The given files, and the YAML files under the given folders in sorted order."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file())
        else:
            yield path


def read_documents(path: Path) -> Iterator[Document]:
    """Every non-empty document of a YAML file; an unreadable file or bad YAML yields one error."""
    try:
        text = path.read_text()
    except OSError as exc:
        yield Document(path, 0, error=f"cannot read: {exc.strerror or exc}")
        return
    try:
        for index, content in enumerate(yaml.safe_load_all(text)):
            if content is not None:
                yield Document(path, index, content)
    except yaml.YAMLError as exc:
        yield Document(path, 0, error=f"not valid YAML: {exc}")
