"""The strict YAML loader: libyaml's parser where PyYAML has it, with its own duplicate-key check."""

from __future__ import annotations

import pytest
import yaml

from kubemig.yamlstrict import _StrictLoader, load_yaml, yaml_problem


def test_it_parses_with_libyaml_where_pyyaml_has_it() -> None:
    base = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
    assert issubclass(_StrictLoader, base)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("a: 1\nb: {c: 2, c: 3}\n", "line 2, column 11"),  # duplicates inside a nested mapping too
        ("a: [1, 2\n", "line 2, column 1"),  # a syntax error, worded by whichever parser runs
    ],
)
def test_errors_name_their_line_and_column(text: str, where: str) -> None:
    with pytest.raises(yaml.YAMLError) as caught:
        load_yaml(text)
    assert yaml_problem(caught.value)[0] == where


def test_it_loads_what_the_safe_loader_loads() -> None:
    text = "version: 1\nnodes:\n- {name: a, gpus: [{index: 0, model: A100-SXM4-40GB}]}\nflag: yes\nn: 0x10\n"
    assert load_yaml(text) == yaml.safe_load(text)
