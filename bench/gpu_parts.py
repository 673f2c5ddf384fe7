"""The parts of bench/gpu_check.py: each runs in its own process through the project's code.

A part builds what it needs under the work folder (once: later parts reuse it) and
writes ``{part}.result.json`` there. See gpu_check.py for what each part measures.
"""

from __future__ import annotations

import json
import logging
import resource
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from synthetic import (
    TEXT_WORDS,
    Lengths,
    build_causal_lm,
    build_student,
    build_translator,
    write_corpus,
    write_multiway,
)

log = logging.getLogger("bench.gpu_check")
LANGUAGES = ["ar", "de", "es", "hi", "ru", "zh"]  # 7 views with English, as the paper
TARGET = "de"
SEED = 13


@dataclass(frozen=True)
class Sizes:
    """Models and workloads of a full check, or of a tiny one (--tiny)."""

    student: dict = field(
        default_factory=lambda: {"vocab_size": 250_002, "hidden_size": 768,
            "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
            "max_position_embeddings": 514, "type_vocab_size": 1}
    )  # fmt: skip
    translator: dict = field(
        default_factory=lambda: {"vocab_size": 256_206, "d_model": 1024, "encoder_layers": 12,
            "decoder_layers": 12, "encoder_attention_heads": 16, "decoder_attention_heads": 16,
            "encoder_ffn_dim": 4096, "decoder_ffn_dim": 4096, "max_position_embeddings": 1024,
            "scale_embedding": True}
    )  # fmt: skip
    causal: dict = field(
        default_factory=lambda: {"vocab_size": 32_000, "hidden_size": 896,
            "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
            "num_key_value_heads": 2, "max_position_embeddings": 4096,
            "tie_word_embeddings": True}
    )  # fmt: skip
    lengths: Lengths = Lengths()
    max_seq_length: int = 128
    batch_ids: int = 128
    warm_steps: int = 5
    timed_steps: int = 30
    eval_sentences: int = 20_000
    eval_batches: tuple[int, ...] = (32, 256)
    translate_sentences: int = 1024
    translate_settings: dict = field(default_factory=dict)  # the stage's defaults
    vllm_sentences: int = 1024
    vllm_settings: dict = field(default_factory=dict)


TINY = Sizes(
    student={"vocab_size": 1000, "hidden_size": 32, "num_hidden_layers": 2,
        "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 64,
        "type_vocab_size": 1},
    translator={"vocab_size": 1000, "d_model": 32, "encoder_layers": 2, "decoder_layers": 2,
        "encoder_attention_heads": 2, "decoder_attention_heads": 2, "encoder_ffn_dim": 64,
        "decoder_ffn_dim": 64, "max_position_embeddings": 128},
    causal={"vocab_size": 1000, "hidden_size": 128, "intermediate_size": 256,
        "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
        "max_position_embeddings": 1024, "tie_word_embeddings": True},
    lengths=Lengths(median=6, sigma=0.5, min_len=2, max_len=16),
    max_seq_length=32,
    batch_ids=8,
    warm_steps=1,
    timed_steps=2,
    eval_sentences=64,
    eval_batches=(8, 32),
    translate_sentences=16,
    translate_settings={"token_budget": 48, "max_batch_size": 8},
    vllm_sentences=8,
    vllm_settings={"max_model_len": 512, "enforce_eager": True, "chunk_size": 8},
)  # fmt: skip


def words(vocab: int) -> int:
    """Distinct words of the synthetic text: room left for specials and language codes."""
    return min(TEXT_WORDS, vocab - 64)


def experiment(student: Path | None = None, *, sizes: Sizes, steps: int = 1, translate=None):
    """A validated config with the schema's defaults, as the workflow would plan from."""
    from mwalign.config import apply_schema

    config = {
        "seed": SEED,
        "languages": LANGUAGES,
        "students": {
            "base": {"model": str(student or "/none"), "prefix": "",
                     "max_seq_length": sizes.max_seq_length}
        },
        "train": {"steps": steps, "batch_ids": sizes.batch_ids, "precision": "bf16",
                  "checkpoint_every": 0},
        "runs": {"check": {"student": "base", "data": "multiway", "objective": "infonce"}},
    }  # fmt: skip
    if translate is not None:
        config["translate"] = translate
    return apply_schema(config)


def peak_memory(device: str) -> dict:
    import torch

    if device == "cuda":
        return {
            "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
            "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / 2**30, 2),
        }
    return {"peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}


def student_folder(work: Path, sizes: Sizes) -> Path:
    return built(build_student(work / "student", sizes.student, sizes.max_seq_length))


def built(folder: Path) -> Path:
    """``folder``, once the memory its building took on the GPU is given back."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return folder


def token_counts(dataset_path: Path, sizes: Sizes) -> dict[str, float]:
    """Expected tokens and sums of squared sequence lengths per training step: real ones,
    and padded ones (each view of a batch is padded to its longest sentence)."""
    from mwalign import files

    table = files.read_table(dataset_path)
    counts = dict.fromkeys(("real", "squares", "padded", "padded_squares"), 0.0)
    rng = np.random.default_rng(0)
    for view in ["en", *LANGUAGES]:
        words_per_row = np.array([len(text.split()) for text in table[view].to_pylist()])
        tokens = np.minimum(words_per_row + 2, sizes.max_seq_length)  # <s> ... </s>, truncated
        counts["real"] += sizes.batch_ids * tokens.mean()
        counts["squares"] += sizes.batch_ids * (tokens.astype(float) ** 2).mean()
        longest = rng.choice(tokens, size=(512, sizes.batch_ids)).max(axis=1).astype(float)
        counts["padded"] += sizes.batch_ids * longest.mean()
        counts["padded_squares"] += sizes.batch_ids * (longest**2).mean()
    return counts


def training_flops(info: dict, tokens: float, squares: float) -> float:
    """6 * N * T (matmul weights, forward + backward) + 12 * L * d * sum(s^2) (attention)."""
    return (
        6 * info["non_embedding_parameters"] * tokens
        + 12 * info["layers"] * info["hidden"] * squares
    )


def part_train(work: Path, sizes: Sizes, device: str) -> dict:
    import torch
    from mwalign.train.job import TrainJob
    from mwalign.train.params import train_params
    from mwalign.train.trainer import train_run

    student = student_folder(work, sizes)
    rows = sizes.batch_ids * (sizes.warm_steps + sizes.timed_steps + 2)
    data = write_multiway(
        work / "multiway.parquet", LANGUAGES, rows, sizes.lengths,
        words(sizes.student["vocab_size"]),
    )  # fmt: skip
    runtimes = {}
    total = sizes.warm_steps + sizes.timed_steps
    for label, steps in (("warm", sizes.warm_steps), ("full", total)):
        params = train_params(experiment(student, sizes=sizes, steps=steps), "check")
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        out = work / f"trained-{label}"
        record = train_run(
            TrainJob(params=params, dataset_path=data, student_path=student, out_dir=out)
        )
        shutil.rmtree(out, ignore_errors=True)
        runtimes[label] = record["result"]["train_runtime"]
    seconds = (runtimes["full"] - runtimes["warm"]) / sizes.timed_steps
    if seconds <= 0:  # start-up noise larger than the timed steps (tiny runs)
        seconds = runtimes["full"] / total
    tokens = token_counts(data, sizes)
    info = json.loads((student / "student.json").read_text())
    flops = training_flops(info, tokens["real"], tokens["squares"])
    padded_flops = training_flops(info, tokens["padded"], tokens["padded_squares"])
    return {
        "setting": f"{sizes.batch_ids} ids x {len(LANGUAGES) + 1} views, bf16, "
        f"max {sizes.max_seq_length} tokens",
        "parameters": info["parameters"],
        "non_embedding_parameters": info["non_embedding_parameters"],
        "steps_per_second": round(1 / seconds, 3),
        "seconds_per_step": round(seconds, 4),
        "tokens_per_step": round(tokens["real"]),
        "padded_tokens_per_step": round(tokens["padded"]),
        "tokens_per_second": round(tokens["real"] / seconds),
        "flops_per_step": flops,
        "achieved_tflops": round(flops / seconds / 1e12, 2),
        "achieved_tflops_with_padding": round(padded_flops / seconds / 1e12, 2),
        "runtimes": runtimes,
        **peak_memory(device),
    }


def part_evaluate(work: Path, sizes: Sizes, device: str) -> dict:
    import torch
    from mwalign.evaluate.run import build_encoder, encoder_params
    from synthetic import sentence_lengths, sentences

    student = student_folder(work, sizes)
    rng = np.random.default_rng(2)
    vocab = words(sizes.student["vocab_size"])
    texts = sentences(rng, sentence_lengths(rng, sizes.eval_sentences, sizes.lengths), vocab)
    warm = sentences(rng, sentence_lengths(rng, 4 * max(sizes.eval_batches), sizes.lengths), vocab)
    runs = []
    for precision in ("fp32", "bf16"):
        for batch in sizes.eval_batches:
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            params = encoder_params(precision=precision, prefix="", name="bench")
            encoder = build_encoder(student, params, None, batch)
            encoder.embed(warm)  # loads the model; kernels warm (other texts: no cache hits)
            started = time.perf_counter()
            encoder.embed(texts)
            seconds = time.perf_counter() - started
            runs.append({
                "precision": precision, "batch_size": batch, "sentences": len(texts),
                "sentences_per_second": round(len(texts) / seconds, 1), **peak_memory(device),
            })  # fmt: skip
            del encoder
    info = json.loads((student / "student.json").read_text())
    tokens = float(np.mean([min(len(text.split()) + 2, sizes.max_seq_length) for text in texts]))
    return {
        "runs": runs,
        "tokens_per_sentence": round(tokens, 2),
        # the count mwalign plan --cost uses, so that these rates calibrate it
        "flops_per_sentence": 2.0 * info["non_embedding_parameters"] * tokens,
    }


def _translate(work: Path, corpus: Path, name: str, config: dict) -> dict:
    from mwalign.files import read_table
    from mwalign.translate.params import translate_job_params
    from mwalign.translate.shard import translate_shard

    params = translate_job_params(config, TARGET)
    out = work / name / f"{TARGET}.parquet"
    shutil.rmtree(work / name, ignore_errors=True)
    stats = translate_shard(
        corpus_path=corpus, lang=TARGET, shard=0, params=params, out_path=out,
        stats_path=out.with_suffix(".json"), work_dir=work / name / "work", seed=SEED,
        model_dir=params[params["backend"]]["model"],  # a local folder: no fetch needed
    )  # fmt: skip
    stats["texts"] = read_table(out).column("text").to_pylist()
    return stats


def _shard_figures(stats: dict) -> dict:
    keys = ("sentences_per_second", "tokens_per_second", "translate_seconds", "load_seconds",
            "batches", "generated_tokens", "translated_rows", "oom_halvings")  # fmt: skip
    return {key: stats.get(key) for key in keys}


def part_translate(work: Path, sizes: Sizes, device: str) -> dict:
    import torch
    from mwalign.languages import language

    codes = tuple(language(lang).flores for lang in ["en", TARGET])
    model = built(build_translator(work / "translator", sizes.translator, codes))
    vocab = words(sizes.translator["vocab_size"])
    corpus = write_corpus(work / "corpus.parquet", sizes.translate_sentences, sizes.lengths, vocab)
    warm_corpus = write_corpus(work / "warm.parquet", 64, sizes.lengths, vocab, seed=3)
    settings = {"model": str(model), "family": "nllb", **sizes.translate_settings}
    sorted_cfg = {"backend": "transformers", "shard_size": sizes.translate_sentences,
                  "transformers": settings}  # fmt: skip
    config = experiment(sizes=sizes, translate=sorted_cfg)
    _translate(work, warm_corpus, "warm-up", config)  # CUDA context, kernels, allocator
    batch = config["translate"]["transformers"]["max_batch_size"]
    naive = {**settings, "sort_by_length": False, "token_budget": 10**9, "max_batch_size": batch}
    naive_cfg = experiment(sizes=sizes, translate={**sorted_cfg, "transformers": naive})
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    results = {"naive": _translate(work, corpus, "naive", naive_cfg)}
    results["sorted"] = _translate(work, corpus, "sorted", config)
    pairs = zip(results["naive"]["texts"], results["sorted"]["texts"], strict=True)
    same = sum(a == b for a, b in pairs)
    budget = config["translate"]["transformers"]["token_budget"]
    return {
        "sentences": sizes.translate_sentences,
        "naive": _shard_figures(results["naive"]) | {"batch_size": batch},
        "sorted": _shard_figures(results["sorted"])
        | {"token_budget": budget, "max_batch_size": batch},
        "speedup": round(
            results["sorted"]["sentences_per_second"] / results["naive"]["sentences_per_second"], 2
        ),
        "identical_outputs": f"{same}/{len(results['naive']['texts'])}",
        # the count mwalign plan --cost uses, so that these rates calibrate it
        "generation_flops_per_token": generation_flops(model),
        "dtype": results["sorted"]["provenance"]["backend"]["dtype"],
        **peak_memory(device),
    }


def generation_flops(model: Path) -> float:
    """FLOPs per generated token of the translator in ``model`` (mwalign.cost.shapes)."""
    from mwalign.cost.shapes import shape_from_config

    config = json.loads((model / "config.json").read_text())
    return shape_from_config(config, str(model / "config.json")).generation_flops()


def part_vllm(work: Path, sizes: Sizes, device: str) -> dict:
    model = built(build_causal_lm(work / "causal-lm", sizes.causal))
    vocab = words(sizes.causal["vocab_size"])
    corpus = write_corpus(work / "vllm-corpus.parquet", sizes.vllm_sentences, sizes.lengths, vocab)
    settings = {"model": str(model), "prompt": "fewshot", **sizes.vllm_settings}
    translate = {"backend": "vllm", "shard_size": sizes.vllm_sentences, "vllm": settings}
    stats = _translate(work, corpus, "vllm", experiment(sizes=sizes, translate=translate))
    return {
        "sentences": sizes.vllm_sentences,
        **_shard_figures(stats),
        "engine": stats["provenance"]["backend"]["vllm"],
    }


def run_child(part: str, work: Path, device: str, tiny: bool) -> int:
    """Run ``part`` in this process and write its result; the process's exit status."""
    import torch

    torch.manual_seed(SEED)
    sizes = TINY if tiny else Sizes()
    runner = {"train": part_train, "evaluate": part_evaluate, "translate": part_translate,
              "vllm": part_vllm}[part]  # fmt: skip
    result = runner(work, sizes, device)
    (work / f"{part}.result.json").write_text(json.dumps(result, default=str))
    return 0


def add_mfu(train: dict, peak_tflops: float | None) -> None:
    """MFU of a train result against ``peak_tflops`` (None when the peak is unknown)."""
    if "achieved_tflops" not in train:
        return
    train["bf16_peak_tflops"] = peak_tflops
    for key, achieved in (("mfu", "achieved_tflops"), ("hfu", "achieved_tflops_with_padding")):
        train[key] = round(train[achieved] / peak_tflops, 3) if peak_tflops else None


def table(summary: dict, goals: dict) -> str:
    """The check's figures as one Markdown table."""
    parts, verdict = summary["parts"], summary["goals"]
    rows: list[tuple[str, str, str, str, str]] = []

    def failed(part: str) -> bool:
        result = parts[part]
        if "failed" in result or "skipped" in result:
            reason = result.get("failed") or result.get("skipped")
            rows.append((part, "", "failed" if "failed" in result else "skipped", reason, ""))
            return True
        return False

    if "train" in parts and not failed("train"):
        t = parts["train"]
        unknown = "peak unknown: --peak-tflops"
        mfu = unknown if t["mfu"] is None else f"{100 * t['mfu']:.1f}%"
        hfu = unknown if t["hfu"] is None else f"{100 * t['hfu']:.1f}%"
        memory = t.get("peak_memory_gib", t.get("peak_rss_gib"))
        rows += [
            ("train", t["setting"], "steps/s", f"{t['steps_per_second']:.2f}", ""),
            ("train", "real tokens", "tokens/s", f"{t['tokens_per_second']:,}", ""),
            ("train", f"{t['achieved_tflops']} TFLOP/s", "MFU", mfu,
             f">= {goals['train_mfu']:.0%}: {verdict['train_mfu']}"),
            ("train", f"{t['achieved_tflops_with_padding']} TFLOP/s incl. padding",
             "same, padding counted", hfu, ""),
            ("train", "", "peak memory GiB", f"{memory}", ""),
        ]  # fmt: skip
    if "evaluate" in parts and not failed("evaluate"):
        goal = f">= {goals['evaluate_sentences_per_second']:,.0f} (best): "
        goal += verdict["evaluate_sentences_per_second"]
        for i, run in enumerate(parts["evaluate"]["runs"]):
            setting = f"{run['precision']}, batch {run['batch_size']}"
            value = f"{run['sentences_per_second']:,.0f}"
            rows.append(("evaluate", setting, "sentences/s", value, goal if i == 0 else ""))
    if "translate" in parts and not failed("translate"):
        t = parts["translate"]
        for kind, label in (
            ("naive", f"naive, batch {t['naive']['batch_size']}"),
            ("sorted", f"sorted, budget {t['sorted']['token_budget']}"),
        ):
            rate = t[kind]
            value = f"{rate['sentences_per_second']} sent/s, {rate['tokens_per_second']} tok/s"
            rows.append(("translate", f"{label} ({t['dtype']})", "throughput", value, ""))
        rows.append(("translate", f"same outputs {t['identical_outputs']}", "speedup",
                     f"{t['speedup']}x", f">= {goals['translate_speedup']}x: "
                     f"{verdict['translate_speedup']}"))  # fmt: skip
    if "vllm" in parts and not failed("vllm"):
        v = parts["vllm"]
        value = f"{v['sentences_per_second']} sent/s, {v['tokens_per_second']} tok/s"
        rows.append(("vllm", f"{v['engine']}, start-up {v['load_seconds']} s", "throughput",
                     value, ""))  # fmt: skip
    machine = summary["machine"]
    where = machine.get("gpu") or f"CPU: {machine['cpu_model']}"
    header = f"gpu_check on {where}" + (" (tiny models)" if machine["tiny"] else "")
    lines = [header, "", "| part | setting | figure | value | goal |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
