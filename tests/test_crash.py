"""Crash recovery with real kills: a child process is SIGKILLed part way through a translation
shard, a training run or an atomic write, then the work is rerun and checked.

The translate and train children run the package's own entry points (``translate_shard``,
``train_run``) on tiny models; nothing in the package knows it is being tested.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import translate_section
from mwalign import files, tables
from mwalign.translate.params import translate_params
from mwalign.translate.shard import translate_shard

torch = pytest.importorskip("torch")
log = logging.getLogger(__name__)

CHILD_ENV = {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
             "PYTHONUNBUFFERED": "1"}  # fmt: skip
TRANSLATE_CHILD = """
import json, sys
from mwalign.translate.shard import translate_shard
translate_shard(**json.loads(open(sys.argv[1]).read()))
"""
TRAIN_CHILD = """
import json, logging, sys
logging.basicConfig(level=logging.INFO)
from mwalign.train.job import TrainJob
from mwalign.train.trainer import train_run
spec = json.loads(open(sys.argv[1]).read())
train_run(TrainJob(
    params=spec["params"],
    dataset_path=spec["dataset"],
    student_path=spec["student"],
    out_dir=spec["out"],
))
"""
WRITE_CHILD = """
import sys, time
from mwalign.files import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    with open(tmp, "w") as handle:
        handle.write("half of the rows\\n")
        handle.flush()
        print("writing", flush=True)
        time.sleep(120)
        handle.write("the other half\\n")
"""
WORDS = "the house is red a dog runs fast over cold water and then we went home".split()  # noqa: SIM905


def spawn(code: str, arg: dict | str, tmp_path: Path, name: str, pipe: bool = False):
    """Run ``code`` in a fresh interpreter with ``arg`` (a dict goes as a JSON file) as its
    argument; its output goes to ``{name}.log`` in ``tmp_path``, or stdout to a pipe."""
    if isinstance(arg, dict):
        spec = tmp_path / f"{name}.spec.json"
        spec.write_text(json.dumps(arg, default=str))
        arg = str(spec)
    with open(tmp_path / f"{name}.log", "w") as log_file:  # the child keeps its own handle
        return subprocess.Popen(
            [sys.executable, "-c", code, arg],
            env={**os.environ, **CHILD_ENV},
            stdout=subprocess.PIPE if pipe else log_file,
            stderr=log_file if pipe else subprocess.STDOUT,
            text=True,
        )


def kill_when(
    proc: subprocess.Popen,
    ready: Callable[[], bool],
    watch: Callable[[], None] = lambda: None,
    timeout: float = 240,
) -> None:
    """SIGKILL ``proc`` as soon as ``ready()``; call ``watch()`` at every poll before that."""
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            watch()
            if proc.poll() is not None:
                raise AssertionError(f"the child exited ({proc.returncode}) before the kill point")
            if time.monotonic() > deadline:
                raise AssertionError(f"the child did not reach the kill point in {timeout} s")
            time.sleep(0.005)
    finally:
        proc.send_signal(signal.SIGKILL)  # also when the wait failed: never leave it running
        returncode = proc.wait()
    assert returncode == -signal.SIGKILL


# --- translation ----------------------------------------------------------------------------


def build_word_marian(folder: Path) -> Path:
    """A 2-layer Marian with random (seeded) weights over a word-level vocabulary of WORDS.

    A tiny vocabulary keeps generation cheap, so a shard of hundreds of rows runs in seconds.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import MarianConfig, MarianMTModel, PreTrainedTokenizerFast

    vocab = {word: i for i, word in enumerate(["<pad>", "</s>", "<unk>", ".", *WORDS])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", vocab["</s>"])]
    )
    core.decoder = decoders.WordPiece()  # joins word tokens with spaces
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    config = MarianConfig(
        vocab_size=len(vocab), d_model=16, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
        decoder_ffn_dim=32, max_position_embeddings=128, pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0, init_std=0.5, scale_embedding=True,
    )  # fmt: skip
    torch.manual_seed(0)
    MarianMTModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def write_word_corpus(path: Path, rows: int) -> Path:
    """``rows`` English-like sentences of 3-20 words (seeded), schema CORPUS."""
    import random

    rng = random.Random(0)
    texts = [" ".join(rng.choices(WORDS, k=rng.randint(3, 20))) + " ." for _ in range(rows)]
    table = pa.table({"id": range(rows), "text": texts, "source": ["synthetic"] * rows,
                      "ref": [""] * rows})  # fmt: skip
    files.write_table(table, path, tables.CORPUS)
    return path


def persisted_rows(work_dir: Path) -> int:
    """Rows in the finished batch files of a shard's work folder."""
    return sum(pq.read_metadata(path).num_rows for path in work_dir.glob("batch-*.parquet"))


SHARD_ROWS = 160


def shard_spec(folder: Path, corpus: Path, params: dict) -> dict:
    out = folder / "de.parquet"
    return {"corpus_path": corpus, "lang": "de", "shard": 0, "params": params,
            "out_path": out, "stats_path": out.with_suffix(".json"),
            "work_dir": folder / "work", "seed": 13,
            "model_dir": params["transformers"]["model"]}  # fmt: skip


@pytest.mark.slow
def test_killed_translation_resumes_and_matches_an_uninterrupted_run(tmp_path):
    torch.set_num_threads(1)
    model = build_word_marian(tmp_path / "marian")
    corpus = write_word_corpus(tmp_path / "en.parquet", SHARD_ROWS)
    cfg = {"backend": "transformers", "shard_size": SHARD_ROWS,
           "transformers": {"model": str(model), "family": "marian", "token_budget": 64,
                            "max_batch_size": 2, "max_new_tokens_ratio": 0.25,
                            "max_new_tokens_extra": 2}}  # fmt: skip
    params = translate_params(translate_section(cfg, ["de"]), "de")
    clean = shard_spec(tmp_path / "clean", corpus, params)
    clean_stats = translate_shard(**clean)
    assert clean_stats["translated_rows"] == SHARD_ROWS
    assert clean_stats["batches"] >= SHARD_ROWS // 2  # many small batches: a kill lands mid-way

    killed = shard_spec(tmp_path / "killed", corpus, params)
    seen_final: list[bool] = []
    proc = spawn(TRANSLATE_CHILD, killed, tmp_path, "translate")
    kill_when(
        proc,
        ready=lambda: persisted_rows(killed["work_dir"]) >= SHARD_ROWS // 2,
        watch=lambda: seen_final.append(killed["out_path"].exists()),
    )
    at_kill = persisted_rows(killed["work_dir"])
    assert seen_final and not any(seen_final)  # no shard file while the job ran...
    assert not killed["out_path"].exists() and not killed["stats_path"].exists()  # ...nor after
    assert SHARD_ROWS // 2 <= at_kill < SHARD_ROWS

    stats = translate_shard(**killed)
    assert stats["resumed_rows"] == at_kill > 0
    assert stats["translated_rows"] == SHARD_ROWS - at_kill  # no finished batch redone
    assert files.file_sha256(killed["out_path"]) == files.file_sha256(clean["out_path"])
    assert not killed["work_dir"].exists()
    log.info("translate: killed with %d/%d rows persisted; rerun translated %d, resumed %d",
             at_kill, SHARD_ROWS, stats["translated_rows"], stats["resumed_rows"])  # fmt: skip


# --- training -------------------------------------------------------------------------------

TRAIN_STEPS, CHECKPOINT_EVERY = 10, 2
MODEL = "model.safetensors"


def checkpoints(work_dir: Path) -> dict[int, bool]:
    """Step of every checkpoint folder in ``work_dir`` -> whether its trainer state is written."""
    if not work_dir.is_dir():
        return {}
    found = {}
    for folder in work_dir.glob("checkpoint-*"):
        found[int(folder.name.split("-")[1])] = (folder / "trainer_state.json").is_file()
    return found


def logged_steps(child_log: Path) -> int:
    """Training steps the child logged (the Trainer prints one dict with 'loss' per step)."""
    return child_log.read_text().count("'loss':")


def count_steps(monkeypatch) -> list[int]:
    """Count training steps run in this process (one loss evaluation per step)."""
    from mwalign.train.losses import MultiwayInfoNCE

    calls: list[int] = []
    original = MultiwayInfoNCE.compute_loss_from_views

    def counting(self, views, labels=None):
        calls.append(1)
        return original(self, views, labels)

    monkeypatch.setattr(MultiwayInfoNCE, "compute_loss_from_views", counting)
    return calls


def start_training(tmp_path: Path, student: Path, data: dict[str, Path], name: str):
    from mwalign.train.params import train_params
    from test_train_fixtures import train_config

    params = train_params(
        train_config(steps=TRAIN_STEPS, checkpoint_every=CHECKPOINT_EVERY), "multiway"
    )
    out = tmp_path / name / "multiway"
    spec = {"params": params, "dataset": data["multiway"], "student": student, "out": out}
    proc = spawn(TRAIN_CHILD, spec, tmp_path, name)
    return proc, params, out, out.parent / ".multiway.work"


def finish_training(params: dict, data, student, out: Path, monkeypatch) -> tuple[dict, int]:
    """Rerun the killed training in this process; the run record and the steps it ran."""
    from mwalign.train.job import TrainJob
    from mwalign.train.trainer import train_run

    steps = count_steps(monkeypatch)
    record = train_run(
        TrainJob(params=params, dataset_path=data["multiway"], student_path=student, out_dir=out)
    )
    assert record["result"]["steps"] == TRAIN_STEPS
    assert json.loads((out / "mwalign_run.json").read_text())["result"] == record["result"]
    assert (out / MODEL).is_file()
    curve = (out / "loss_curve.csv").read_text().splitlines()[1:]
    assert [int(line.split(",")[0]) for line in curve] == list(range(1, TRAIN_STEPS + 1))
    assert sorted(p.name for p in out.parent.iterdir()) == ["multiway"]  # no work folder left
    return record, len(steps)


@pytest.mark.slow
def test_killed_training_resumes_from_its_last_checkpoint(tmp_path, student, data, monkeypatch):
    from mwalign.train.job import TrainJob
    from mwalign.train.trainer import train_run

    proc, params, out, work = start_training(tmp_path, student, data, "killed")
    child_log = tmp_path / "killed.log"
    after = 2 * CHECKPOINT_EVERY  # a step between two checkpoints, after a complete one
    kill_when(
        proc,
        ready=lambda: checkpoints(work).get(after) and logged_steps(child_log) > after,
    )
    done_by_child = logged_steps(child_log)
    written = checkpoints(work)
    last = max(step for step, complete in written.items() if complete)
    assert not out.exists() and last < TRAIN_STEPS

    record, rerun_steps = finish_training(params, data, student, out, monkeypatch)
    assert record["result"]["resumed_from"] == str(work / f"checkpoint-{last}")
    assert rerun_steps == TRAIN_STEPS - last  # only the steps after the checkpoint
    clean_out = tmp_path / "clean" / "multiway"  # the same run, never killed
    clean = train_run(
        TrainJob(
            params=params, dataset_path=data["multiway"], student_path=student, out_dir=clean_out
        )
    )
    assert clean["result"]["final_loss"] == record["result"]["final_loss"]
    assert files.file_sha256(out / MODEL) == files.file_sha256(clean_out / MODEL)
    log.info("train: killed after %d steps, resumed from step %d, rerun ran %d steps, %d redone",
             done_by_child, last, rerun_steps, done_by_child - last)  # fmt: skip


@pytest.mark.slow
def test_training_killed_while_saving_a_checkpoint_resumes_from_the_one_before(
    tmp_path, student, data, monkeypatch
):
    proc, params, out, work = start_training(tmp_path, student, data, "saving")

    def saving() -> bool:
        """Whether a checkpoint after the first is being written; the child is then stopped."""
        written = checkpoints(work)
        if not any(not complete and step > CHECKPOINT_EVERY for step, complete in written.items()):
            return False
        proc.send_signal(signal.SIGSTOP)  # freeze it, then look again: no race with the writer
        if any(not complete for complete in checkpoints(work).values()):
            return True
        proc.send_signal(signal.SIGCONT)  # the save finished between the two looks
        return False

    kill_when(proc, ready=saving)
    done_by_child = logged_steps(tmp_path / "saving.log")
    written = checkpoints(work)
    partial = [step for step, complete in written.items() if not complete]
    last = max(step for step, complete in written.items() if complete)
    assert partial and last == max(partial) - CHECKPOINT_EVERY

    record, rerun_steps = finish_training(params, data, student, out, monkeypatch)
    assert record["result"]["resumed_from"] == str(work / f"checkpoint-{last}")
    assert rerun_steps == TRAIN_STEPS - last
    log.info("train: killed while saving checkpoint-%d after %d steps, resumed from step %d, "
             "rerun ran %d steps, %d redone", max(partial), done_by_child, last, rerun_steps,
             done_by_child - last)  # fmt: skip


def test_checkpoints_written_in_part_are_not_resumed_from(tmp_path):
    from mwalign.train.trainer import last_complete_checkpoint
    from torch import nn

    class ProjectionLoss(nn.Module):  # a loss with weights of its own, saved per checkpoint
        def __init__(self) -> None:
            super().__init__()
            self.projection = nn.Linear(2, 2)

    work = tmp_path / ".run.work"
    assert last_complete_checkpoint(work, nn.Module()) is None
    written = {2: ["trainer_state.json", "loss_state.safetensors"], 4: ["trainer_state.json"],
               6: [MODEL], 8: []}  # fmt: skip
    for step, names in written.items():
        (work / f"checkpoint-{step}").mkdir(parents=True)
        for name in names:
            (work / f"checkpoint-{step}" / name).write_text("x")
    (work / "checkpoint-last").mkdir()
    assert last_complete_checkpoint(work, nn.Module()) == str(work / "checkpoint-4")
    assert last_complete_checkpoint(work, ProjectionLoss()) == str(work / "checkpoint-2")


# --- atomic writes --------------------------------------------------------------------------


def test_a_writer_killed_inside_atomic_path_leaves_no_output(tmp_path):
    dest = tmp_path / "out" / "table.json"
    files.write_json({"version": 1}, dest)
    proc = spawn(WRITE_CHILD, str(dest), tmp_path, "write", pipe=True)
    kill_when(proc, ready=lambda: proc.stdout.readline() == "writing\n", timeout=60)
    proc.stdout.close()
    assert files.read_json(dest) == {"version": 1}  # the old complete file, untouched
    leftovers = [p.name for p in dest.parent.iterdir() if p != dest]
    assert leftovers and all(name.startswith(".table.json.") for name in leftovers)
    dest.unlink()
    proc = spawn(WRITE_CHILD, str(dest), tmp_path, "write", pipe=True)
    kill_when(proc, ready=lambda: proc.stdout.readline() == "writing\n", timeout=60)
    proc.stdout.close()
    assert not dest.exists()  # nothing that could be taken for the finished file
    files.write_json({"version": 2}, dest)
    assert files.read_json(dest) == {"version": 2}
