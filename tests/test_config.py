"""Config validation at parse time: schema defaults and errors that name key and allowed values."""

from __future__ import annotations

import copy
import json
import re
from functools import partial
from pathlib import Path

import pytest
import yaml
from mwalign.config import ConfigError, validate_config
from mwalign.models.checks import config_model_ids
from mwalign.train.params import train_params
from mwalign.trust import remote_code_allowed

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
    # defaults of sections kept in their own schema files are filled in too
    assert filled["translate"]["transformers"]["gguf_file"] is None
    assert filled["translate"]["flags"]["min_script_fraction"] == 0.5
    assert filled["evaluate"]["classification"]["n_experiments"] == 10
    assert filled["train"]["keep_checkpoints"] == 2
    assert filled["trust_remote_code"] == []
    paper = yaml.safe_load((ROOT / "experiments/paper.yaml").read_text())
    assert validate_config(paper)["translate"]["backend"] == "transformers"


def test_extended_overlay_merges_into_the_default_config():
    from snakemake.utils import update_config

    merged = copy.deepcopy(
        DEFAULT
    )  # what `--configfile config.yaml experiments/extended.yaml` gives
    update_config(merged, yaml.safe_load((ROOT / "experiments/extended.yaml").read_text()))
    filled = validate_config(merged)
    assert set(filled["runs"]) == {"multiway", "enx", "multiway-soft"}
    assert filled["evaluate"]["tasks"] == ["BibleBitextMining", "BibleClassification"]
    assert filled["evaluate"]["unseen_languages"] == DEFAULT["evaluate"]["unseen_languages"]


BACKEND_MSG = r"translate.backend: 'marian-fast' is not one of \['reference', 'transformers'"
STUDENT_MSG = r"config.students.e5-small.model: model id "


def run(**settings) -> dict:
    """Changes that replace the `multiway` run with one carrying ``settings``."""
    return {"runs__multiway": {"student": "e5-small", "data": "multiway", **settings}}


def translator(**settings) -> dict:
    """Changes that switch to the transformers backend with ``settings``."""
    return {"translate__backend": "transformers", "translate__transformers": settings}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"colour": "red"}, r"\('colour' was unexpected\); allowed keys: \['corpus', 'dataset'"),
        ({"corpus__sise": 10}, r"config key corpus: .*'sise' was unexpected.*'min_chars'"),
        ({"languages": ["de", "xx"]}, r"unknown language 'xx'; known: .*ar, bn"),
        ({"languages": ["de", "en"]}, r"lists 'en', but English is the source"),
        ({"languages": ["de", "de"]}, r"languages: \['de', 'de'\] lists \['de'\] more than once"),
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
        # unknown choices: the message lists the allowed values
        ({"translate__backend": "marian-fast"}, BACKEND_MSG),
        (run(objective="triplet"), r"runs.multiway.objective: 'triplet' is not one of \['infonce'"),
        (run(data="pairs"), r"runs.multiway.data: 'pairs' is not one of \['multiway', 'enx'\]"),
        ({"evaluate__tasks": ["NoSuchTask"]}, r"unknown task\(s\) \['NoSuchTask'\].*allowed:"),
        ({"train__precision": "fp8"}, r"train.precision: 'fp8' is not one of \['auto', 'fp32'"),
        ({"corpus__file__format": "csv"}, r"corpus.file.format: 'csv' is not one of \['auto'"),
        ({"corpus__if_smaller": "shrug"}, r"corpus.if_smaller: 'shrug' is not one of \['error'"),
        (
            {"corpus__bible__edition": "zz"},
            r"corpus.bible.edition: unknown Bible edition 'zz'; known",
        ),
        ({"evaluate__unseen_languages": ["xx"]}, r"unknown language 'xx' in config.evaluate"),
        ({"evaluate__unseen_languages": ["de"]}, r"unseen_languages lists \['de'\], which are"),
        ({"languages": []}, r"config key languages: \[\] should be non-empty"),
        # zero or negative sizes, rates and temperatures
        ({"train__learning_rate": 0}, r"train.learning_rate: 0 is less than or equal to the min"),
        ({"train__learning_rate": -1e-5}, r"train.learning_rate: -1e-05 is less than or equal"),
        (run(learning_rate=0.0), r"runs.multiway.learning_rate: 0.0 is less than or equal"),
        ({"train__steps": 0}, r"train.steps: 0 is less than the minimum of 1"),
        ({"train__batch_ids": 1}, r"train.batch_ids: 1 is less than the minimum of 2"),
        ({"train__temperature": 0}, r"train.temperature: 0 is less than or equal to the minimum"),
        ({"teacher__batch_size": 0}, r"teacher.batch_size: 0 is less than the minimum of 1"),
        ({"students__e5-small__max_seq_length": 0}, r"max_seq_length: 0 is less than the min"),
        ({"translate__shard_size": -3}, r"translate.shard_size: -3 is less than the minimum of 1"),
        ({"evaluate__bible__size": 0}, r"evaluate.bible.size: 0 is less than the minimum of 2"),
        ({"evaluate__classification__samples_per_label": 0}, r"samples_per_label: 0 is less"),
        (
            {"dataset__dev_fraction": 1},
            r"dev_fraction: 1(\.0)? is greater than or equal to the maximum",
        ),
        ({"seed": -1}, r"config key seed: -1 is less than the minimum of 0"),
        # model ids: no paths out of the project, no shell text, wherever a model is named
        ({"students__e5-small__model": "../../etc/passwd"}, STUDENT_MSG + r"'../../etc/passwd'"),
        ({"students__e5-small__model": "intfloat/e5;curl x|sh"}, STUDENT_MSG + r"'intfloat/e5;"),
        ({"students__e5-small__model": "/tmp/../etc"}, r"students.e5-small.model: local model"),
        ({"teacher__model": ""}, r"config.teacher.model: model id '' is empty"),
        (translator(model="../models/nllb"), r"translate.transformers.model: model id '../models"),
        (
            translator(model="Helsinki-NLP/opus-mt-en-{lang}$(id)"),
            r"translate.transformers.model \(ar\): model id 'Helsinki-NLP/opus-mt-en-ar\$\(id\)'",
        ),
        (
            {"translate__backend": "vllm", "translate__vllm": {"model": "o/m && rm -rf ~"}},
            r"config.translate.vllm.model: model id 'o/m && rm -rf ~' is not allowed",
        ),
        (
            translator(model="google/gemma-3-270m", family="causal", gguf_file="../x.gguf"),
            r"gguf_file '../x.gguf' is not allowed; use a '.gguf' file inside the model folder",
        ),
        # trust_remote_code names models of the experiment only
        (
            {"trust_remote_code": ["some/other-model"]},
            r"trust_remote_code lists 'some/other-model'",
        ),
        ({"trust_remote_code": "intfloat/multilingual-e5-small"}, r"is not of type 'array'"),
        (
            {"corpus__source": "file", "corpus__file": {"path": "/no/such/corpus.txt"}},
            r"config.corpus.file.path '/no/such/corpus.txt' is not a file",
        ),
    ],
)
def test_bad_config_names_key_and_allowed_values(changes, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(config(**changes))


def test_remote_code_only_for_listed_models():
    e5 = "intfloat/multilingual-e5-small"
    plain = validate_config(config())
    assert not any(remote_code_allowed(plain, m) for m in config_model_ids(plain).values())
    listed = validate_config(config(trust_remote_code=[e5]))
    assert remote_code_allowed(listed, e5)
    assert not remote_code_allowed(listed, "sentence-transformers/all-MiniLM-L6-v2")
    assert not remote_code_allowed(listed, "intfloat/multilingual-e5-small-evil")


def test_remote_code_of_a_translator_template_covers_its_languages():
    marian = "Helsinki-NLP/opus-mt-en-{lang}"
    filled = validate_config(config(**translator(model=marian), trust_remote_code=[marian]))
    ids = config_model_ids(filled)
    assert ids["translate.transformers.model (de)"] == "Helsinki-NLP/opus-mt-en-de"
    assert remote_code_allowed(filled, "Helsinki-NLP/opus-mt-en-de")
    assert not remote_code_allowed(filled, "Helsinki-NLP/opus-mt-en-fr")  # fr is not configured


def test_reference_backend_loads_no_translator_and_file_corpus_may_be_relative(
    tmp_path, monkeypatch
):
    assert "translate.transformers.model" not in config_model_ids(validate_config(config()))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus.txt").write_text("A sentence long enough to keep.\n")
    changes = translator(model="facebook/nllb-200-distilled-600M")
    changes.update(corpus__source="file", corpus__file={"path": "corpus.txt"})
    filled = validate_config(config(**changes))
    assert filled["corpus"]["file"]["path"] == "corpus.txt"


def test_model_names_never_collide():
    from conftest import make_config

    base_run = {"base-tiny": {"student": "tiny", "data": "multiway"}}
    message = (
        r"'base-tiny' is made twice: by config.students.tiny "
        r"and by config.runs.base-tiny"
    )
    with pytest.raises(ConfigError, match=message):
        make_config({"runs": base_run})
    seeds = {"a": {"student": "tiny", "data": "enx", "seeds": [1, 2]}}
    seeds["a-seed2"] = {"student": "tiny", "data": "enx"}
    with pytest.raises(ConfigError, match=r"'a-seed2' is made twice: by config.runs.a and by "):
        make_config({"runs": seeds})
    student = {"students": {"x-seed1": {"model": "owner/tiny-student"}}}
    run = {"runs": {"base-x": {"student": "tiny", "data": "enx", "seeds": [1, 3]}}}
    with pytest.raises(ConfigError, match=r"'base-x-seed1' is made twice"):
        make_config({**student, **run})


def test_corpus_file_format_and_reference_backend_checked_at_parse_time(tmp_path):
    from conftest import make_config

    csv = tmp_path / "corpus.csv"
    csv.write_text("text\nA sentence long enough to keep.\n")
    file_corpus = {"source": "file", "file": {"path": str(csv)}}
    message = (
        r"corpus.file.path '.*corpus.csv': cannot tell the "
        r"format from the suffix '.csv' \(known suffixes: .txt"
    )
    with pytest.raises(ConfigError, match=message):
        make_config({"corpus": file_corpus})
    assert make_config({"corpus": {**file_corpus, "file": {"path": str(csv), "format": "txt"}},
                        "translate": {"backend": "transformers"}})  # fmt: skip
    message = (
        r"translate.backend 'reference' .*corpus.source is "
        r"'file'; allowed: corpus.source 'bible'"
    )
    with pytest.raises(ConfigError, match=message):
        make_config({"corpus": {**file_corpus, "file": {"path": str(csv), "format": "txt"}}})
    hub = {"source": "huggingface", "huggingface": {"name": "owner/sentences"}}
    with pytest.raises(ConfigError, match=r"corpus.source is 'huggingface'"):
        make_config({"corpus": hub})


SOURCE_LABEL = re.compile(r"\[(abstract|paper-text|IMASCL|summary|chosen)\]")


def test_every_paper_setting_carries_its_source_label():
    """Each setting line of experiments/paper.yaml has a label on the line or in the comment
    block right above its paragraph (lines up to the previous blank line)."""
    labelled, missing = False, []
    for number, line in enumerate((ROOT / "experiments/paper.yaml").read_text().splitlines(), 1):
        text = line.strip()
        if not text:
            labelled = False
        elif text.startswith("#"):
            labelled = labelled or bool(SOURCE_LABEL.search(text))
        elif not text.endswith(":") and not labelled and not SOURCE_LABEL.search(line):
            missing.append(f"{number}: {line}")
    assert not missing, missing
    paper = validate_config(yaml.safe_load((ROOT / "experiments/paper.yaml").read_text()))
    assert paper["translate"]["transformers"]["model"] == "facebook/nllb-200-3.3B"
    assert paper["train"]["row_languages"] == 4
    runs = paper["runs"]
    assert runs["me5-multiway"]["temperature"] == paper["train"]["soft_temperature"] == 0.1
    for student in ("xlmr", "mbert"):
        assert {runs[f"{student}-enx-{m}"].get("match") for m in ("pairs", "sentences")} == {
            "pairs",
            "sentences",
        }
    assert runs["me5-multiway-soft-average"]["label_strategy"] == "average"
    assert runs["me5-multiway-soft-tcm"]["tcm"] is True


def test_raw_student_overlay_draws_x_per_seed():
    from snakemake.utils import update_config

    merged = copy.deepcopy(DEFAULT)
    update_config(merged, yaml.safe_load((ROOT / "experiments/raw-student.yaml").read_text()))
    filled = validate_config(merged)
    gemma = {name: run for name, run in filled["runs"].items() if name.startswith("gemma")}
    assert len(gemma) == 4 and all(run["enx_targets"] == "per_seed" for run in gemma.values())
    assert gemma["gemma-enx-equal"]["match"] == "sentences"


@pytest.mark.slow
def test_paper_experiment_plans(tmp_path):
    """`snakemake -n --configfile experiments/paper.yaml` plans every job (hub online: the
    dry run reaches no server)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]
    command += ["--directory", str(tmp_path), "--configfile", str(ROOT / "experiments/paper.yaml")]
    result = subprocess.run(
        [*command, "--cores", "2", "--dry-run"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    train = re.search(r"^train\s+(\d+)\s*$", result.stdout, re.MULTILINE)
    # 20 runs x 3 seeds; the 11 runs of the paper's protocol (and its controls) sweep a
    # 4-point grid: 11 x 4 x 3 + 9 x 3 = 159 train jobs, one choice per swept model
    assert train and int(train.group(1)) == 159
    select = re.search(r"^select\s+(\d+)\s*$", result.stdout, re.MULTILINE)
    assert select and int(select.group(1)) == 11 * 3


def test_every_config_file_is_read_with_file_line_and_column(tmp_path):
    """Duplicate keys (any depth), empty files, lists, non-UTF-8 bytes, tabs and alias
    bombs are refused with the file, line and column; anchors and merge keys still work."""
    import time

    from mwalign.cli import main
    from mwalign.config import read_config_file

    cases = {
        "seed: 1\nseed: 2\n": r"line 2, column 1: key 'seed' is given twice .*first at line 1",
        "runs:\n  a: {student: s}\n  b: {}\n  a: {student: t}\n": r"line 4, column 3: key 'a'",
        "": r"the file is empty",
        "- seed\n- 1\n": r"line 1, column 1: the file holds a list",
        "train:\n\tsteps: 3\n": r"line 2, column 1: .*indented with spaces",
    }
    for text, message in cases.items():
        path = tmp_path / "overlay.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError, match=message):
            read_config_file(path)
        assert main(["check", str(path)]) == 1
    path.write_bytes(b"seed: 1\nname: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"line 2, column 10: not UTF-8 text \(byte 0xe9\)"):
        read_config_file(path)
    bomb = "a0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)
    )
    path.write_text(bomb)
    started = time.monotonic()
    with pytest.raises(ConfigError, match="expand to more than 100000 values"):
        read_config_file(path)
    assert time.monotonic() - started < 1.0
    path.write_text("base: &b {x: 1, y: 2}\nrun:\n  <<: *b\n  y: 3\n")  # a merge key overridden
    assert read_config_file(path)["run"] == {"x": 1, "y": 3}
    assert read_config_file(ROOT / "experiments" / "raw-student.yaml")


def test_names_are_matched_whole_and_bounded_and_near_misses_suggested(tmp_path):
    from mwalign.bible import check_edition
    from mwalign.paths import check_name

    with pytest.raises(ConfigError, match="not allowed"):
        check_name("run", "abc\n")
    with pytest.raises(ConfigError, match=r"has 300 characters; at most 64 are allowed"):
        check_name("run", "r" * 300)
    check_name("run", "r" * 64)
    with pytest.raises(
        ValueError, match=r"translate.reference.editions.de: .*'zz'.*edition is 'e'"
    ):
        check_edition("zz", key="translate.reference.editions.de", lang="de")
    from mwalign.errors import suggestion

    assert suggestion("tatoeba", ["BibleBitextMining", "Tatoeba"]) == " (did you mean 'Tatoeba'?)"
    assert suggestion("xyz", ["BibleBitextMining", "Tatoeba"]) == ""
    bad = copy.deepcopy(DEFAULT)
    bad["corpus"]["source"] = "Bible"
    bad["train"]["stepz"] = 3
    with pytest.raises(ConfigError, match=r"(?s)did you mean 'bible'\?.*did you mean 'steps'\?"):
        validate_config(bad)
    with pytest.raises(ValueError, match=r"did you mean 'de'\?"):
        from mwalign.languages import language

        language("dee")


def test_the_same_value_written_differently_is_the_same_config(tmp_path):
    """3.0 for an integer key is 3, 1 for a number key is 1.0, and so is a default; a value
    written out equals the default it repeats; languages are sorted (their
    order changes no draw), except with a pair_priority run, where it ranks them."""
    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    other = copy.deepcopy(base)
    other["seed"] = float(base["seed"])
    other["train"]["steps"] = float(base["train"]["steps"])
    other["train"]["max_grad_norm"] = 1
    other["train"]["drift_weight"] = 0  # a number key's default (0) written out
    other["runs"]["enx"]["warmup_ratio"] = 0.1
    other["languages"] = list(reversed(base["languages"]))
    # as text, not ==: 0 == 0.0, but Snakemake's params record tells them apart and reruns
    as_text = partial(json.dumps, sort_keys=True)
    filled, filled_base = validate_config(other), validate_config(copy.deepcopy(base))
    for run in base["runs"]:
        assert as_text(train_params(filled, run)) == as_text(train_params(filled_base, run))
    del filled["runs"]["enx"]["warmup_ratio"]  # the one key written out at run level
    assert as_text(filled) == as_text(filled_base)
    assert validate_config(copy.deepcopy(base))["languages"] == base["languages"]  # sorted
    ranked = copy.deepcopy(base)
    ranked["languages"] = list(reversed(base["languages"]))
    ranked["runs"]["multiway"]["objective"] = "soft"
    ranked["train"]["label_strategy"] = "pair_priority"
    ranked["teacher"]["languages"] = ["en", *base["languages"]]
    assert validate_config(ranked)["languages"] == list(reversed(base["languages"]))
