"""A model translator in the workflow: fetch_model makes its folder once, translate jobs read it."""

from __future__ import annotations

import json
import re

import pytest
from mwalign.models.ids import translator_slug
from workflow_helpers import planned_jobs, snakemake, tiny_config, tiny_student

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    from test_translate_models import build_tiny_marian

    models = tmp_path_factory.mktemp("models")
    for lang in ("de", "zh"):  # one Marian model per language pair, as opus-mt-en-{lang}
        build_tiny_marian(models / f"marian-{lang}")
    workdir = tmp_path_factory.mktemp("experiment")
    translate = {
        "backend": "transformers",
        "shard_size": 40,
        "transformers": {"model": f"{models}/marian-{{lang}}", "family": "marian",
                         "max_new_tokens_ratio": 0.25, "max_new_tokens_extra": 2},
    }  # fmt: skip
    tiny_config(workdir, tiny_student(models / "tiny"), translate=translate)
    folders = {lang: f"resources/models/{translator_slug(f'{models}/marian-{lang}')}"
               for lang in ("de", "zh")}  # fmt: skip
    return workdir, folders


def test_translate_jobs_take_their_languages_translator_folder_as_input(experiment):
    workdir, folders = experiment
    assert planned_jobs(workdir, "--until", "translate") == {
        "fetch_model": 2, "sample": 1, "translate": 4,
    }  # fmt: skip
    result = snakemake(workdir, "--dry-run", "--until", "translate")
    blocks = re.split(r"\n(?=(?:local)?rule \w+:)", result.stdout + result.stderr)
    jobs = [block for block in blocks if re.match(r"(local)?rule translate:", block)]
    assert len(jobs) == 4
    for job in jobs:
        lang = re.search(r"wildcards: lang=(\w+)", job).group(1)
        inputs = re.search(r"input: (.*)", job).group(1).split(", ")
        assert folders[lang] in inputs and folders[{"de": "zh", "zh": "de"}[lang]] not in inputs


def test_each_shard_loads_its_languages_folder_made_once(experiment):
    workdir, folders = experiment
    snakemake(workdir, "--until", "translate")
    assert len(list((workdir / "logs" / "fetch_model").iterdir())) == 2  # one per translator
    for lang, folder in folders.items():
        info = json.loads((workdir / folder / "mwalign_model.json").read_text())
        assert info["kind"] == "translator" and info["source"] == "local"
        stats = sorted((workdir / "results" / "translations" / lang).glob("*.stats.json"))
        assert len(stats) == 2  # two shards, one folder
        sources = {json.loads(p.read_text())["provenance"]["backend"]["source"] for p in stats}
        assert sources == {info["provenance"]}
    assert planned_jobs(workdir, "--until", "translate") == {}  # nothing is made again
