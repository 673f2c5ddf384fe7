"""``mwalign plan --cost``: the work and device time of tiny experiments, computed by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import make_config
from mwalign import cli
from mwalign.cost import CPU_BUSY, estimate, experiment_work, format_costs, stage_costs, texts
from mwalign.cost.rates import GPU_UTILISATION, Rates, bf16_peak, cpu_rates, gpu_rates
from mwalign.cost.shapes import KNOWN_SHAPES, model_shape, shape_from_config
from mwalign.cost.work import train_work
from mwalign.train.params import train_params

# A BERT of 2 layers, hidden 32, FFN 64 (the tiny student of test_train_fixtures):
# per layer 4 * 32^2 + 2 * 32 * 64 = 8,192 weights, 16,384 in all.
TINY_FORWARD = 2 * 16_384  # FLOPs per token
TINY_TRAIN = 6 * 16_384
# An M2M100 of 1 + 1 layers, d_model 16, FFN 32, vocabulary 100 (config.json only).
M2M_CONFIG = {
    "model_type": "m2m_100",
    "encoder_layers": 1,
    "decoder_layers": 1,
    "d_model": 16,
    "encoder_ffn_dim": 32,
    "decoder_ffn_dim": 32,
    "vocab_size": 100,
}
# encoder layer 4 * 16^2 + 2 * 16 * 32 = 2,048; decoder layer 8 * 16^2 + 2 * 16 * 32 = 3,072
M2M_ENCODE = 2 * 2_048
M2M_GENERATE = 2 * (3_072 + 16 * 100)


def test_shapes_count_the_products_with_weights():
    e5 = KNOWN_SHAPES["intfloat/multilingual-e5-small"]
    assert e5.forward_flops() == 2 * 12 * (4 * 384**2 + 2 * 384 * 1536) == 42_467_328
    assert e5.train_flops() == 3 * e5.forward_flops()
    # 10 of 12 layers frozen: forward through 12, backward through 2
    per_layer = 2 * (4 * 384**2 + 2 * 384 * 1536)
    assert e5.train_flops(frozen_layers=10) == 12 * per_layer + 2 * 2 * per_layer
    assert e5.train_flops(checkpointing=True) == 4 * e5.forward_flops()
    # Gemma-3-270M: grouped-query attention (4 x 256 queries, 1 x 256 keys/values), gated MLP
    gemma = KNOWN_SHAPES["google/gemma-3-270m"]
    layer = 2 * 640 * 1024 + 2 * 640 * 256 + 3 * 640 * 2048
    assert gemma.encoder_weights() == 18 * layer == 100_270_080
    assert gemma.generation_flops() == 2 * (18 * layer + 640 * 262_144)
    m2m = shape_from_config(M2M_CONFIG, "test")
    assert (m2m.forward_flops(), m2m.generation_flops()) == (M2M_ENCODE, M2M_GENERATE)


def test_shape_from_a_folder_at_hand_then_the_table(student, tmp_path):
    shape = model_shape(str(student), tmp_path)
    assert (shape.kind, shape.layers, shape.hidden, shape.ffn) == ("encoder", 2, 32, 64)
    assert shape.forward_flops() == TINY_FORWARD
    assert model_shape("intfloat/multilingual-e5-small", tmp_path).source.startswith("config")
    # a materialised folder wins over the table
    folder = tmp_path / "resources" / "models" / "intfloat--multilingual-e5-small"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({**M2M_CONFIG, "model_type": "bert",
        "num_hidden_layers": 1, "hidden_size": 8, "intermediate_size": 16}))  # fmt: skip
    assert model_shape("intfloat/multilingual-e5-small", tmp_path).hidden == 8
    with pytest.raises(ValueError, match="no size known for model 'owner/unknown'.*fetch_model"):
        model_shape("owner/unknown", tmp_path)
    with pytest.raises(ValueError, match="model_type 'vit'"):
        shape_from_config({"model_type": "vit"}, "x/config.json")


def test_tokens_from_characters():
    assert texts.tokens(40.0) == 40 / 4 + 2 == 12
    assert texts.tokens(40.0, prefix="query: ") == 12 + 2  # 7 characters: 2 tokens
    assert texts.tokens(400.0, max_length=48) == 48


@pytest.mark.parametrize(
    ("data", "overrides", "rows", "sentences"),
    [
        ("multiway", {}, 8, 8 * 3),  # English + de + zh
        ("enx", {}, 8, 8 * 2),
        ("multiway", {"gradient_accumulation": 2}, 16, 16 * 3),
        ("enx", {"match": "sentences"}, 8 * 3 // 2, 12 * 2),
        ("multiway", {"row_languages": 2}, 8, 8 * 2),  # k-language rows: k sentences each
    ],
)
def test_train_work_from_the_resolved_params(data, overrides, rows, sentences):
    config = make_config(
        {"train": {"steps": 3, "batch_ids": 8, **overrides}, "runs": {"multiway": {"data": data}}}
    )
    work = train_work(train_params(config, "multiway"))
    assert (work.steps, work.rows_per_step, work.sentences_per_step) == (3, rows, sentences)


@pytest.fixture
def tiny_experiment(student, tmp_path) -> dict:
    """64 English lines of 40 characters, de and zh translated by a config-only M2M100,
    the tiny student as teacher and student, two runs of 3 steps, the Bible tasks."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"sentence number {i:04d} of the tiny corpus.\n" for i in range(64)))
    assert {len(line) for line in corpus.read_text().splitlines()} == {40}
    translator = tmp_path / "m2m"
    translator.mkdir()
    (translator / "config.json").write_text(json.dumps(M2M_CONFIG))
    return make_config(
        {
            "corpus": {"source": "file", "file": {"path": str(corpus)}, "size": 64},
            "translate": {
                "backend": "transformers",
                "shard_size": 40,
                "transformers": {"model": str(translator), "family": "m2m100", "num_beams": 2},
            },
            "teacher": {"model": str(student)},
            "students": {"tiny": {"model": str(student), "prefix": "", "max_seq_length": 48}},
            "train": {"steps": 3, "batch_ids": 8},
            "runs": {"enx": {"student": "tiny", "data": "enx"}},
            "evaluate": {
                "tasks": ["BibleBitextMining", "BibleClassification"],
                "unseen_languages": ["fr", "sw"],
                "bible": {"size": 60},
            },
        }
    )


def test_work_of_a_tiny_experiment_by_hand(tiny_experiment, tmp_path):
    stages = {stage.stage: stage for stage in experiment_work(tiny_experiment, tmp_path)}
    assert list(stages) == [
        "fetch_model", "sample", "translate", "assemble", "teacher", "train", "evaluate", "report"
    ]  # fmt: skip
    assert stages["sample"].sentences == 64
    # 40 characters: 12 tokens a sentence (no prefix, under max_seq_length 48)
    translate = stages["translate"]
    assert (translate.jobs, translate.model_jobs, translate.sentences) == (4, 4, 128)
    assert translate.generated_tokens == 2 * 64 * 12 * 2  # languages x sentences x tokens x beams
    assert translate.flops == {
        "encode": 2 * 64 * 12 * M2M_ENCODE,
        "generate": 2 * 64 * 12 * 2 * M2M_GENERATE,
    }
    teacher = stages["teacher"]  # English only
    assert (teacher.sentences, teacher.tokens) == (64, 64 * 12)
    assert teacher.flops == {"encode": 64 * 12 * TINY_FORWARD}
    train = stages["train"]  # multiway: 3 steps x 8 ids x 3 views; enx: 3 x 8 x 2
    assert (train.jobs, train.steps, train.sentences) == (2, 6, 72 + 48)
    assert train.flops == {"train": (72 + 48) * 12 * TINY_TRAIN}
    # three models (base-tiny, multiway, enx) x the verse pool (en + de, zh, fr, sw) x 60,
    # encoded once for both Bible tasks
    evaluate = stages["evaluate"]
    pool = texts.bible_pool(tiny_experiment)
    assert (evaluate.jobs, pool.count, evaluate.sentences) == (6, 5 * 60, 3 * 5 * 60)
    per_sentence = texts.tokens(pool.chars, max_length=48)
    assert evaluate.flops["encode"] == pytest.approx(900 * per_sentence * TINY_FORWARD)


def test_device_time_by_hand(tiny_experiment, tmp_path):
    stages = experiment_work(tiny_experiment, tmp_path)
    rates = Rates(
        device="a test GPU",
        unit="GPU",
        units=1,
        peak=dict.fromkeys(("encode", "train", "generate"), 1e9),
        utilisation={"encode": 0.5, "train": 0.25, "generate": 0.1},
        job_start_seconds=10.0,
        light_job_start_seconds=1.0,
    )
    costs = {cost.work.stage: cost for cost in stage_costs(stages, rates)}
    teacher = costs["teacher"]
    assert teacher.compute_seconds == pytest.approx(64 * 12 * TINY_FORWARD / 0.5e9)
    assert teacher.start_seconds == 10.0
    assert costs["train"].compute_seconds == pytest.approx(120 * 12 * TINY_TRAIN / 0.25e9)
    assert costs["train"].start_seconds == 20.0
    generate = 2 * 64 * 12 * 2 * M2M_GENERATE / 0.1e9
    assert costs["translate"].compute_seconds == pytest.approx(
        2 * 64 * 12 * M2M_ENCODE / 0.5e9 + generate
    )
    assert costs["sample"].seconds == 0.0  # no GPU: its start-up costs no GPU time
    cpu = stage_costs(stages, Rates(**{**rates.__dict__, "unit": "core", "units": 2}))
    starts = {cost.work.stage: cost.start_seconds for cost in cpu}
    assert starts["sample"] == 1.0 and starts["train"] == 20.0  # loads no model; two that do
    assert starts["fetch_model"] == 2 * 1.0
    table = format_costs(cpu, Rates(**{**rates.__dict__, "unit": "core", "units": 2}),
                         tiny_experiment, tmp_path)  # fmt: skip
    total = sum(cost.seconds for cost in cpu)
    assert f"CPU time {total:,.0f} core-seconds" in table
    assert f"wall time about {total / (2 * CPU_BUSY):,.0f} s" in table
    assert "English corpus sentences average 40 characters" in table


def test_gpu_rates_assumed_then_calibrated_by_gpu_check(tmp_path):
    assumed = gpu_rates("h100", tmp_path)
    assert assumed.peak["train"] == 989e12 and assumed.utilisation == GPU_UTILISATION
    assert "assumed (no results/bench/gpu_check.json" in assumed.sources["train"]
    check = {
        "machine": {"device": "cuda", "tiny": False, "gpu": "NVIDIA H100 80GB HBM3"},
        "parts": {
            "train": {"achieved_tflops": 296.7},
            "evaluate": {
                "flops_per_sentence": 1e10,
                "runs": [{"precision": "bf16", "batch_size": 32, "sentences_per_second": 4945.0}],
            },
            "translate": {
                "generation_flops_per_token": 2e9,
                "sorted": {"tokens_per_second": 24725.0},
            },
        },
    }
    path = tmp_path / "results" / "bench" / "gpu_check.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(check))
    calibrated = gpu_rates("h100", tmp_path)
    assert calibrated.utilisation == pytest.approx({"train": 0.3, "encode": 0.05, "generate": 0.05})
    assert "measured by bench/gpu_check.py on NVIDIA H100" in calibrated.sources["encode"]
    # figures from another GPU (or a tiny CPU run) calibrate nothing
    assert gpu_rates("a100", tmp_path).sources["train"].startswith("assumed")
    assert gpu_rates("h100-pcie", tmp_path).sources["train"].startswith("assumed")
    with pytest.raises(ValueError, match="unknown GPU 'h1000'; known: .*h100"):
        gpu_rates("h1000", tmp_path)
    assert bf16_peak("NVIDIA H100 PCIe") == 756.0 and bf16_peak("NVIDIA A100-SXM4-80GB") == 312.0


def test_cpu_rates_probe_in_the_precision_the_job_runs(monkeypatch):
    from mwalign.cost import rates as rates_module

    probed = []
    monkeypatch.setattr("mwalign.precision.cpu_bf16_features", lambda: set())
    monkeypatch.setattr(
        rates_module, "probe_cpu", lambda precision, hidden: probed.append(precision) or 1e11
    )
    rates = cpu_rates({"encode": "auto", "train": "fp32", "generate": "auto"}, 384)
    assert probed == ["fp32"]  # auto is fp32 without native bf16: probed once
    assert rates.flops_per_second("train") == pytest.approx(1e11 * rates.utilisation["train"])
    assert rates.sources["encode"].startswith("fp32 (auto: fp32 on a CPU without")


def test_cpu_probe_measures_a_product():
    from mwalign.cost.rates import probe_cpu

    assert 1e8 < probe_cpu("fp32", 64, windows=1, seconds=0.02) < 1e14


def test_cli_prints_the_cost_table(tiny_experiment, tmp_path, monkeypatch, capsys):
    import yaml

    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(tiny_experiment))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["plan", "--cost", "--gpu", "a100", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Work and cost on NVIDIA A100 (312 dense bf16 TFLOP/s)" in out
    costs, _ = estimate(tiny_experiment, gpu="a100", root=tmp_path)
    total = sum(cost.seconds for cost in costs) / 3600
    # fetch_model 2 (student = teacher, translator), sample 1, translate 4, assemble 1,
    # teacher 1, train 2, evaluate 6, report 1
    assert "| **total** | 18 | | | | | " in out and f"**{total:.3f}** |" in out
    assert "train: 30% of the peak; assumed" in out
    unknown = {**tiny_experiment, "teacher": {**tiny_experiment["teacher"], "model": "owner/x"}}
    with pytest.raises(ValueError, match="no size known for model 'owner/x'"):
        estimate(unknown, gpu="a100", root=tmp_path)


def test_default_experiment_counts(tmp_path):
    """The default experiment's work, by hand: 2,000 sentences, six languages, two runs of
    30 steps of 16 ids, three models evaluated on 15 columns of 1,000 verses."""
    import yaml
    from mwalign.config import validate_config

    config = validate_config(yaml.safe_load(Path(cli.__file__).parents[2].joinpath(
        "config.yaml").read_text()))  # fmt: skip
    stages = {stage.stage: stage for stage in experiment_work(config, tmp_path)}
    assert stages["translate"].sentences == 12_000 and not stages["translate"].flops
    assert stages["train"].sentences == 30 * 16 * 7 + 30 * 16 * 2
    assert stages["evaluate"].sentences == 3 * 15 * 1000
    assert sum(stage.jobs for stage in stages.values()) == 23
