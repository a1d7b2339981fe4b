"""Reading the YAML files users hand us (configs, hooks): a duplicate key is an error, not a silent
overwrite (`kubemig.yamlstrict`), and an unreadable file is one line naming it."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from kubemig.partition.errors import ConfigError
from kubemig.yamlstrict import load_yaml, yaml_problem


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
        return load_yaml(text)
    except yaml.YAMLError as exc:
        where, problem = yaml_problem(exc)
        raise ConfigError([f"{label}:{' ' + where if where else ''}: not valid YAML: {problem}"]) from exc
