"""Reading the YAML files users hand us (configs, hooks): a duplicate key is an error, not a silent
overwrite, and an unreadable file is one line naming it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from kubemig.partition.errors import ConfigError


class _StrictLoader(yaml.SafeLoader):
    pass


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first on line {seen[key] + 1}): each name may appear once, "
                "so merge the two or rename one",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def read_text(path: str | Path) -> tuple[str, str]:
    """(label, text) of a file, or of standard input for `-`."""
    if str(path) == "-":
        return "<stdin>", sys.stdin.read()
    try:
        return str(path), Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc


def parse_yaml(label: str, text: str) -> object:
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{label}:{where}: not valid YAML: {problem}"]) from exc
