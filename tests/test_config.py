"""Config validation at parse time: schema defaults and errors that name key and allowed values."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from mwalign.config import ConfigError, validate_config

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((ROOT / "config.yaml").read_text())


def config(**changes) -> dict:
    value = copy.deepcopy(DEFAULT)
    for dotted, new in changes.items():
        *parents, key = dotted.split("__")
        node = value
        for parent in parents:
            node = node.setdefault(parent, {})
        node[key] = new
    return value


def test_default_and_paper_configs_are_valid():
    filled = validate_config(config())
    assert filled["dataset"]["drop_flagged"] is True  # a default filled in
    assert filled["corpus"]["file"]["format"] == "auto"
    paper = yaml.safe_load((ROOT / "experiments/paper.yaml").read_text())
    assert validate_config(paper)["translate"]["backend"] == "transformers"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"colour": "red"}, r"Additional properties are not allowed \('colour' was unexpected\)"),
        ({"corpus__sise": 10}, r"config key corpus: .*'sise' was unexpected"),
        ({"languages": ["de", "xx"]}, r"unknown language 'xx'; known: .*ar, bn"),
        ({"languages": ["de", "en"]}, r"lists 'en', but English is the source"),
        ({"languages": ["de", "de"]}, r"config key languages: .*non-unique"),
        ({"corpus__size": 0}, r"config key corpus.size: 0 is less than the minimum of 1"),
        ({"corpus__size": -5}, r"config key corpus.size: -5 is less than the minimum of 1"),
        ({"corpus__source": "web"}, r"config key corpus.source: 'web' is not one of"),
        ({"corpus__min_chars": 500}, r"min_chars \(500\) exceeds config.corpus.max_chars \(400\)"),
        ({"corpus__source": "file"}, r"corpus.source is 'file' but corpus.file.path is not set"),
        ({"teacher__languages": ["en", "fr"]}, r"teacher.languages: 'fr' is not a language"),
        ({"teacher__model": "../../etc/passwd"}, r"config.teacher.model: .*'../../etc/passwd'"),
        ({"teacher__model": "org/model; rm -rf /"}, r"config.teacher.model"),
        ({"runs__bad": {"student": "nobody", "data": "multiway"}}, r"nobody"),
        ({"runs__bad run": {"student": "e5-small", "data": "enx"}}, r"run name 'bad run'"),
    ],
)
def test_bad_config_names_key_and_allowed_values(changes, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(config(**changes))
