"""Inputs the workflow must never trust, checked in its own source.

Config values, model repositories and checkpoint files come from outside the project:
no pickle-capable load without ``weights_only=True``, no model code run unless the
config lists the model (never a hard-coded True), no shell built from strings.
Each scan is also run on a snippet that breaks its rule, so none passes vacuously.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON_SOURCES = sorted((ROOT / "workflow").rglob("*.py")) + sorted((ROOT / "bench").rglob("*.py"))
RULE_FILES = [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]
REMOTE_CODE_MODULE = ROOT / "workflow" / "mwalign" / "models" / "save.py"
CODE_RUNNING_CALLS = {
    r"(^|\.)pickle\.loads?$": "pickle runs code from the file",
    r"^(builtins\.)?(eval|exec)$": "runs text as code",
    r"(^|\.)os\.(system|popen)$": "runs a shell",
    r"(^|\.)yaml\.(load|unsafe_load|full_load)$": "builds arbitrary objects; use safe_load",
}


def calls(path: Path) -> Iterator[tuple[str, ast.Call]]:
    """(dotted name of the callee, call node) of every call in ``path``."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call):
            yield ast.unparse(node.func), node


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def is_constant(node: ast.expr | None, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def torch_loads_without_weights_only(paths: list[Path]) -> list[str]:
    return [
        f"{path.name}:{call.lineno}"
        for path in paths
        for name, call in calls(path)
        if name.endswith("torch.load") and not is_constant(keyword(call, "weights_only"), True)
    ]


def code_running_calls(paths: list[Path]) -> list[str]:
    return [
        f"{path.name}:{call.lineno} {name} ({why})"
        for path in paths
        for name, call in calls(path)
        for pattern, why in CODE_RUNNING_CALLS.items()
        if re.search(pattern, name)
    ]


def shell_subprocesses(paths: list[Path]) -> list[str]:
    """subprocess calls with shell=True or a command string instead of an argument list."""
    found = []
    for path in paths:
        for name, call in calls(path):
            if not re.search(r"(^|\.)subprocess\.", name):
                continue
            command = call.args[0] if call.args else keyword(call, "args")
            shell = keyword(call, "shell")
            as_string = isinstance(command, (ast.JoinedStr, ast.BinOp, ast.Constant))
            if as_string or not (shell is None or is_constant(shell, False)):
                found.append(f"{path.name}:{call.lineno}")
    return found


def pickling_numpy_loads(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        for name, call in calls(path):
            allow = keyword(call, "allow_pickle")
            if name.endswith("np.load") and not (allow is None or is_constant(allow, False)):
                found.append(f"{path.name}:{call.lineno}")
    return found


def remote_code_always_on(paths: list[Path]) -> list[str]:
    """trust_remote_code passed (keyword or dict key) as the constant True.

    Every model's trust must come from ``mwalign.trust.remote_code_allowed`` (the
    config's allow-list), carried to the loader as a value.
    """
    found = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            values = []
            if isinstance(node, ast.keyword) and node.arg == "trust_remote_code":
                values = [node.value]
            elif isinstance(node, ast.Dict):
                values = [
                    v
                    for k, v in zip(node.keys, node.values, strict=True)
                    if isinstance(k, ast.Constant) and k.value == "trust_remote_code"
                ]
            found += [f"{path.name}:{v.lineno}" for v in values if is_constant(v, True)]
    return found


def shell_rule_blocks(paths: list[Path]) -> list[str]:
    """`shell:` or `run:` blocks, which could format config values into a command line."""
    return [
        f"{path.name}:{number}"
        for path in paths
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if re.match(r"\s+(shell|run):", line)
    ]


SCANS: dict[str, tuple[Callable[[list[Path]], list[str]], list[Path], str]] = {
    "torch.load without weights_only=True": (
        torch_loads_without_weights_only,
        PYTHON_SOURCES,
        "import torch\nstate = torch.load('x.pt')\n",
    ),
    "code-running loaders": (
        code_running_calls,
        PYTHON_SOURCES,
        "import yaml\nyaml.load(open('c.yaml'))\n",
    ),
    "subprocess through a shell": (
        shell_subprocesses,
        PYTHON_SOURCES,
        "import subprocess\nsubprocess.run(f'hf download {model}', shell=True)\n",
    ),
    "np.load with pickles": (
        pickling_numpy_loads,
        PYTHON_SOURCES,
        "import numpy as np\nnp.load('x.npy', allow_pickle=True)\n",
    ),
    "trust_remote_code=True": (
        remote_code_always_on,
        PYTHON_SOURCES,
        "AutoModel.from_pretrained(name, trust_remote_code=True)\n",
    ),
    "shell blocks in rules": (
        shell_rule_blocks,
        RULE_FILES,
        "rule x:\n    output: 'a'\n    shell: 'echo {config[model]} > {output}'\n",
    ),
}


def test_sources_are_found():
    assert REMOTE_CODE_MODULE in PYTHON_SOURCES and len(PYTHON_SOURCES) > 20
    assert len(RULE_FILES) > 5


@pytest.mark.parametrize("scan", list(SCANS))
def test_project_source_is_clean(scan):
    check, paths, _ = SCANS[scan]
    assert check(paths) == [], f"{scan}: {check(paths)}"


@pytest.mark.parametrize("scan", list(SCANS))
def test_scan_finds_a_violation(tmp_path, scan):
    check, _, bad_snippet = SCANS[scan]
    path = tmp_path / "bad.py"
    path.write_text(bad_snippet)
    found = check([path])
    assert len(found) == 1 and found[0].startswith("bad.py:")


# ------------------------------------------- config mistakes that only the data reveals
# mwalign.config.check_inputs runs at parse time, after validate_config; each case below
# would otherwise fail in a job, after Snakemake removed that job's previous output.


@pytest.fixture(scope="module")
def counts_dir(tmp_path_factory) -> Path:
    """One folder of Bible counts for every test here (counting takes seconds)."""
    return tmp_path_factory.mktemp("checks")


@pytest.fixture
def hub_mode_online(monkeypatch) -> None:
    """HF_HUB_OFFLINE unset (other test modules set it at import): only the size checks run."""
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


def check(overrides: dict, counts_dir: Path, base: dict | None = None) -> None:
    from conftest import make_config
    from mwalign.config import check_inputs

    check_inputs(make_config(overrides, base=base), cache_dir=counts_dir)


def test_corpus_size_beyond_the_packaged_bible(counts_dir, hub_mode_online):
    from mwalign.config import ConfigError

    message = (
        r"config.corpus.size is 30000, but the corpus has only "
        r"\d+ usable verses in edition '4', books \[1, 39\].*corpus.if_smaller"
    )
    with pytest.raises(ConfigError, match=message):
        check({"corpus": {"size": 30000}}, counts_dir)
    check({"corpus": {"size": 30000, "if_smaller": "take_all"}}, counts_dir)
    check({"corpus": {"size": 2000}}, counts_dir)  # the default experiment's size fits
    assert len(list(counts_dir.glob("corpus-*.json"))) == 1  # counted once, then read


def test_corpus_file_smaller_than_size_or_without_its_column(tmp_path, counts_dir, hub_mode_online):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from mwalign.config import ConfigError

    lines = tmp_path / "corpus.txt"
    lines.write_text("".join(f"Sentence number {i} is long enough.\n" for i in range(5)))
    corpus = {"source": "file", "file": {"path": str(lines)}, "size": 10}
    other = {"translate": {"backend": "transformers"}, "train": {"batch_ids": 2}}
    with pytest.raises(ConfigError, match=r"corpus.size is 10, but the corpus has only 5 rows"):
        check({"corpus": corpus, **other}, counts_dir)
    table = tmp_path / "corpus.parquet"
    pq.write_table(pa.table({"sentence": ["A sentence long enough."] * 20}), table)
    corpus = {"source": "file", "file": {"path": str(table)}, "size": 10}
    with pytest.raises(ConfigError, match=r"text_column 'text' is not a column of .*\['sentence'"):
        check({"corpus": corpus, **other}, counts_dir)


def test_batch_larger_than_the_train_split(counts_dir, hub_mode_online):
    from mwalign.config import ConfigError

    small = {"corpus": {"size": 20}}
    message = (
        r"config.train.batch_ids is 30, but the train split of "
        r"20 sentences .* has \d+ training sentences"
    )
    with pytest.raises(ConfigError, match=message):
        check({**small, "train": {"batch_ids": 30}}, counts_dir)
    run = {"multiway": {"student": "tiny", "data": "multiway", "batch_ids": 25}}
    with pytest.raises(ConfigError, match=r"config.runs.multiway.batch_ids is 25"):
        check({**small, "runs": run}, counts_dir)
    enx = {"multiway": {"student": "tiny", "data": "enx", "match": "sentences"}}
    with pytest.raises(ConfigError, match=r"batch_ids is 16 \(x k / 2 = 24: match: sentences"):
        check({**small, "runs": enx, "train": {"batch_ids": 16}}, counts_dir)
    check({**small, "train": {"batch_ids": 8}}, counts_dir)


def test_evaluation_pool_larger_than_the_held_out_verses(counts_dir, hub_mode_online):
    from mwalign.config import ConfigError

    message = (
        r"config.evaluate.bible.size is 100000, but only \d+ "
        r"verses of books \[40, 66\] are usable.*allowed: 2 to \d+"
    )
    with pytest.raises(ConfigError, match=message):
        check({"evaluate": {"bible": {"size": 100000}}}, counts_dir)


def tiny_model_folder(folder: Path, **config) -> Path:
    import json

    folder.mkdir(parents=True)
    (folder / "modules.json").write_text(json.dumps([{"idx": 0, "path": "", "type": "x"}]))
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_lengths_and_layers_beyond_the_model(tmp_path, counts_dir):
    from mwalign.config import ConfigError
    from mwalign.limits import position_limit

    bert = tiny_model_folder(
        tmp_path / "bert", model_type="bert", max_position_embeddings=64, num_hidden_layers=2
    )
    students = {"tiny": {"model": str(bert), "max_seq_length": 128}}
    message = (
        r"config.students.tiny.max_seq_length is 128, but model "
        r"'.*bert' takes at most 64 tokens.*allowed: 8 to 64"
    )
    with pytest.raises(ConfigError, match=message):
        check({"students": students}, counts_dir)
    students["tiny"]["max_seq_length"] = 64
    with pytest.raises(ConfigError, match=r"config.train.freeze_layers is 3, but model .* has 2 "):
        check({"students": students, "train": {"freeze_layers": 3}}, counts_dir)
    check({"students": students, "train": {"freeze_layers": 2}}, counts_dir)
    # XLM-R counts positions after the padding index: 514 positions hold 512 tokens
    assert position_limit({"model_type": "xlm-roberta", "max_position_embeddings": 514,
                           "pad_token_id": 1}) == 512  # fmt: skip


def test_offline_config_that_needs_the_hub_stops_at_parse_time(monkeypatch, tmp_path, counts_dir):
    from mwalign.config import ConfigError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets"))
    hub = {"source": "huggingface", "huggingface": {"name": "owner/no-such-sentences"}}
    other = {"translate": {"backend": "transformers"}}
    with pytest.raises(ConfigError, match=r"config.corpus.huggingface.name 'owner/no-such-"
                       r"sentences' is a Hugging Face dataset that is not in the local cache, "
                       r"and HF_HUB_OFFLINE is set"):  # fmt: skip
        check({"corpus": hub, **other}, counts_dir)
    message = (
        r"config.students.tiny.model 'owner/tiny-student' is "
        r"not in the local cache, has no packaged copy"
    )
    with pytest.raises(ConfigError, match=message):
        check({}, counts_dir)
    student = tiny_model_folder(tmp_path / "student", model_type="bert")
    check({"students": {"tiny": {"model": str(student)}}}, counts_dir)  # packaged teacher


@pytest.mark.slow
def test_offline_mteb_task_without_cached_data_stops_at_parse_time(monkeypatch, tmp_path):
    from mwalign.config import ConfigError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets"))
    student = tiny_model_folder(tmp_path / "student", model_type="bert")
    overrides = {"students": {"tiny": {"model": str(student)}}, "evaluate": {"tasks": ["STS17"]}}
    message = (
        r"config.evaluate.tasks lists the mteb task 'STS17', "
        r"whose data .* is not in the local cache"
    )
    with pytest.raises(ConfigError, match=message):
        check(overrides, tmp_path)


def test_hub_corpus_unreachable_names_the_key_in_the_job(monkeypatch, tmp_path):
    from mwalign.sample.corpus import sample_corpus

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets"))
    from conftest import make_config

    hub = {"source": "huggingface", "huggingface": {"name": "owner/no-such-sentences"}}
    settings = make_config({"corpus": hub, "translate": {"backend": "transformers"}})["corpus"]
    out = tmp_path / "en.parquet"
    message = (
        r"corpus.huggingface.name 'owner/no-such-sentences' "
        r"needs the Hugging Face hub, which cannot be reached \(HF_HUB_OFFLINE"
    )
    with pytest.raises(ValueError, match=message):
        sample_corpus(settings=settings, seed=1, out_path=out, stats_path=tmp_path / "s.json")
    assert not out.exists()


def test_train_job_checks_rows_before_touching_outputs(tmp_path):
    from conftest import make_config
    from mwalign.config import ConfigError
    from mwalign.train.checks import check_rows_per_step
    from mwalign.train.params import train_params

    params = train_params(make_config({"train": {"batch_ids": 16}}), "multiway")
    message = (
        r"config.runs.multiway \(or config.train\) batch_ids is "
        r"16, but the train split of x.parquet has 12 training sentences"
    )
    with pytest.raises(ConfigError, match=message):
        check_rows_per_step(
            key="config.runs.multiway (or config.train) batch_ids", params=params, rows=12,
            where="the train split of x.parquet",
        )  # fmt: skip


@pytest.mark.slow
def test_mteb_task_unreachable_names_the_key_in_the_job(monkeypatch, tmp_path):
    from conftest import make_config
    from mwalign.evaluate.params import evaluate_params
    from mwalign.evaluate.run import evaluate_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets"))
    config = make_config({"evaluate": {"tasks": ["STS17"], "unseen_languages": []}})
    out = tmp_path / "eval/base-tiny/STS17.json"
    message = r"config.evaluate.tasks: 'STS17' reads 'mteb/sts17-crosslingual-sts' needs the Hug"
    with pytest.raises(RuntimeError, match=message):
        evaluate_model(
            model_path=tmp_path / "no-model",
            task="STS17",
            params=evaluate_params(config, "base-tiny", "STS17"),
            out_path=out,
            cache_dir=tmp_path / "cache",
        )
    assert not out.exists()
