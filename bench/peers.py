"""The project beside the libraries a user would otherwise call: one run, one machine.

Each part runs the project's stage code and the plain library on the same model and
data, each side in a process of its own (its own peak memory), and reports the ratio
project / plain (above 1: the project is faster):

- evaluate: the evaluate stage (``evaluate_model``: its encoder with token-length
  batches and the embedding cache, in the stage's precision) against ``mteb.evaluate``
  with a plain ``SentenceTransformer`` (fp32, mteb's own encode) on BibleBitextMining;
  sentences/s, wall seconds, the largest F1 difference over the subsets (with the stage
  asked for fp32 too, the same arithmetic as the plain side).
- train: steps of the train stage (multi-way InfoNCE on ``--batch-ids`` ids x 7
  languages, packed on a CPU) against a plain sentence-transformers Trainer with
  ``MultipleNegativesRankingLoss`` on En-X pairs with as many sentences per step (the
  same student, learning rate, warm-up, precision and frozen word embeddings); sentences/s
  from the Trainer's own ``train_runtime`` and each process's peak RSS.
- translate: the transformers and ctranslate2 backends (``translate_shard``) against
  plain ``transformers`` (tokenizer and ``generate`` in batches of 16 in input order:
  transformers 5 removed its translation pipeline, and its migration guide leaves
  ``generate``), on an NLLB-architecture model built from a config (random weights,
  XLM-R's vocabulary, bench/translate.py): greedy, every row cut at the same number of
  new tokens (its EOS never wins, so every row runs to the cap and the work is equal);
  sentences/s and how many outputs are identical to plain transformers'.

    python bench/peers.py --model resources/models/intfloat--multilingual-e5-small
    python bench/peers.py --part evaluate --eval-size 100 --threads 1    # a quick check

Writes results/bench/peers.json with the machine (bench/machine.py) and logs a table.
Figures need a quiet machine: the load average is recorded with them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("bench.peers")
PARTS = ("evaluate", "train", "translate")
LANGUAGES = ["ar", "de", "es", "hi", "ru", "zh"]
UNSEEN = ["fr", "pt", "it", "ja", "ko", "tr", "vi", "sw"]
PREFIX = "query: "


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--part", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument(
        "--model",
        type=Path,
        default=ROOT / "resources" / "models" / "intfloat--multilingual-e5-small",
        help="the student's sentence-transformers folder (evaluate, train)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--eval-size", type=int, default=1000, help="verses per language")
    parser.add_argument("--steps", type=int, default=8, help="training steps (2 warm-up)")
    parser.add_argument("--batch-ids", type=int, default=16)
    parser.add_argument("--sentences", type=int, default=200, help="sentences to translate")
    parser.add_argument("--new-tokens", type=int, default=24, help="new tokens per sentence")
    parser.add_argument("--nllb-size", default="base", choices=["base", "600m"])
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench" / "peers.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def experiment(args: argparse.Namespace, **overrides) -> dict:
    """A validated config with the student, the six languages and the Bible evaluation."""
    from mwalign.config import validate_config

    config = {
        "seed": 13,
        "languages": LANGUAGES,
        "students": {
            "e5": {"model": str(args.model.resolve()), "prefix": PREFIX, "max_seq_length": 64}
        },
        "train": {"steps": args.steps, "batch_ids": args.batch_ids, "checkpoint_every": 0},
        "runs": {"multiway": {"student": "e5", "data": "multiway", "objective": "infonce"}},
        "evaluate": {
            "tasks": ["BibleBitextMining"],
            "unseen_languages": UNSEEN,
            "bible": {"size": args.eval_size},
        },
    }
    config.update(overrides)
    return validate_config(config)


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# -- evaluate ------------------------------------------------------------------------------


def child_evaluate_project(args: argparse.Namespace, precision: str) -> dict:
    from mwalign.evaluate.params import evaluate_params
    from mwalign.evaluate.run import evaluate_model

    config = experiment(args, evaluate={**experiment(args)["evaluate"], "precision": precision})
    params = evaluate_params(config, "base-e5", "BibleBitextMining")
    out = args.work / f"project-{precision}" / "BibleBitextMining.json"
    started = time.perf_counter()
    summary = evaluate_model(
        model_path=args.model, task="BibleBitextMining", params=params, out_path=out,
        cache_dir=args.work / f"cache-{precision}",
    )  # fmt: skip
    wall = time.perf_counter() - started
    return {
        "wall_s": round(wall, 2),
        "sentences": summary["sentences_encoded"],
        "sentences_per_second": round(summary["sentences_encoded"] / wall, 1),
        "encode_seconds": summary["encode_seconds"],
        "scores": summary["main_score"],
        "precision": json.loads(out.read_text())["mwalign"]["precision"],
        "peak_rss_mb": peak_rss_mb(),
    }


def child_evaluate_plain(args: argparse.Namespace) -> dict:
    import mteb
    from mwalign.evaluate.bible_tasks import BibleBitextMining
    from mwalign.evaluate.params import evaluate_params
    from sentence_transformers import SentenceTransformer

    task = BibleBitextMining(evaluate_params(experiment(args), "base-e5", "BibleBitextMining"))
    started = time.perf_counter()
    task.load_data()  # timed as the stage's is; every column is encoded once
    sentences = len(task.dataset["test"]) * len(task.dataset["test"].column_names)
    model = SentenceTransformer(
        str(args.model), device="cpu", prompts={"query": PREFIX}, default_prompt_name="query"
    )
    model.max_seq_length = 64
    result = mteb.evaluate(
        model, task, cache=None, overwrite_strategy="always",
        encode_kwargs={"batch_size": 32}, co2_tracker=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    scores = {
        entry["hf_subset"]: entry["main_score"]
        for entries in result.task_results[0].scores.values()
        for entry in entries
    }
    return {
        "wall_s": round(wall, 2),
        "sentences": sentences,
        "sentences_per_second": round(sentences / wall, 1),
        "scores": scores,
        "precision": "fp32",
        "peak_rss_mb": peak_rss_mb(),
    }


def largest_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys(), (sorted(a), sorted(b))
    return round(100 * max(abs(a[key] - b[key]) for key in a), 3)


def part_evaluate(args: argparse.Namespace, work: Path) -> dict:
    plain = run_child(args, "evaluate-plain", work)
    runs = {"mteb + SentenceTransformer (fp32)": plain}
    for precision in dict.fromkeys([args.precision, "fp32"]):
        runs[f"evaluate stage ({precision})"] = run_child(
            args, f"evaluate-project-{precision}", work
        )
    for run in runs.values():
        run["ratio_sentences_per_second"] = round(
            run["sentences_per_second"] / plain["sentences_per_second"], 2
        )
        run["largest_f1_difference_x100"] = largest_difference(run["scores"], plain["scores"])
    return runs


# -- train ---------------------------------------------------------------------------------


def write_multiway(args: argparse.Namespace, path: Path) -> list[dict]:
    """Old Testament verses in English and the six languages (the packaged Bible)."""
    import pyarrow as pa
    from mwalign import files, tables
    from mwalign.evaluate.verses import verse_pool

    rows = args.batch_ids * (args.steps + 2)
    pool = verse_pool(LANGUAGES, "4", (1, 39), rows, 13, 20)
    table = {"id": list(range(rows)), "split": ["train"] * rows, "en": pool["en"].tolist()}
    table |= {lang: pool[lang].tolist() for lang in LANGUAGES}
    files.write_table(pa.table(table), path, tables.multiway_schema(LANGUAGES))
    return [dict(zip(table, values, strict=True)) for values in zip(*table.values(), strict=True)]


def child_train_project(args: argparse.Namespace) -> dict:
    from mwalign.train.job import TrainJob
    from mwalign.train.params import train_params
    from mwalign.train.trainer import train_run

    data = args.work / "multiway.parquet"
    write_multiway(args, data)
    config = experiment(args, train={**experiment(args)["train"], "precision": args.precision})
    params = train_params(config, "multiway")
    record = train_run(
        TrainJob(params=params, dataset_path=data, student_path=args.model,
                 out_dir=args.work / "project-model")
    )  # fmt: skip
    runtime = record["result"]["train_runtime"]
    sentences = args.steps * args.batch_ids * (1 + len(LANGUAGES))
    return {
        "steps": args.steps,
        "sentences_per_step": args.batch_ids * (1 + len(LANGUAGES)),
        "train_runtime_s": round(runtime, 2),
        "sentences_per_second": round(sentences / runtime, 1),
        "precision": record["result"].get("precision", args.precision),
        "packed": record["result"].get("packed"),
        "final_loss": record["result"].get("train_loss"),
        "peak_rss_mb": peak_rss_mb(),
    }


def child_train_plain(args: argparse.Namespace) -> dict:
    import torch
    from datasets import Dataset
    from mwalign.precision import precision_for
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
        losses,
    )

    rows = write_multiway(args, args.work / "multiway.parquet")
    # En-X: each English row with one language, in turn; as many sentences per step
    pairs = args.batch_ids * (1 + len(LANGUAGES)) // 2
    targets = [LANGUAGES[i % len(LANGUAGES)] for i in range(len(rows))]
    dataset = Dataset.from_dict(
        {
            "anchor": [PREFIX + row["en"] for row in rows],
            "positive": [PREFIX + row[lang] for row, lang in zip(rows, targets, strict=True)],
        }
    )
    model = SentenceTransformer(str(args.model), device="cpu")
    model.max_seq_length = 64
    embeddings = model[0].auto_model.get_input_embeddings()
    embeddings.weight.requires_grad_(False)  # as the train stage's freeze_embeddings: true
    bf16 = precision_for(args.precision, "cpu").name == "bf16"
    hyper = experiment(args)["train"]
    training = SentenceTransformerTrainingArguments(
        output_dir=str(args.work / "plain-model"), per_device_train_batch_size=pairs,
        max_steps=args.steps, learning_rate=hyper["learning_rate"],
        warmup_ratio=hyper["warmup_ratio"], bf16=bf16, use_cpu=True, save_strategy="no",
        report_to=[], logging_steps=args.steps, seed=13, dataloader_drop_last=True,
    )  # fmt: skip
    loss = losses.MultipleNegativesRankingLoss(model, scale=1 / hyper["temperature"])
    torch.manual_seed(13)
    trainer = SentenceTransformerTrainer(
        model=model, args=training, train_dataset=dataset, loss=loss
    )
    metrics = trainer.train().metrics
    model.save_pretrained(str(args.work / "plain-model"))  # as the train stage saves its model
    sentences = args.steps * pairs * 2
    return {
        "steps": args.steps,
        "sentences_per_step": pairs * 2,
        "train_runtime_s": round(metrics["train_runtime"], 2),
        "sentences_per_second": round(sentences / metrics["train_runtime"], 1),
        "precision": "bf16" if bf16 else "fp32",
        "final_loss": metrics.get("train_loss"),
        "peak_rss_mb": peak_rss_mb(),
    }


def part_train(args: argparse.Namespace, work: Path) -> dict:
    plain = run_child(args, "train-plain", work)
    project = run_child(args, "train-project", work)
    project["ratio_sentences_per_second"] = round(
        project["sentences_per_second"] / plain["sentences_per_second"], 2
    )
    project["ratio_peak_rss"] = round(project["peak_rss_mb"] / plain["peak_rss_mb"], 2)
    return {
        "Trainer + MultipleNegativesRankingLoss, En-X": plain,
        "train stage, multi-way": project,
    }


# -- translate -----------------------------------------------------------------------------


def translate_setup(args: argparse.Namespace) -> tuple[Path, Path]:
    """The corpus and the model every translate side reads, built once by the first
    (``translate-setup``, a process of its own, so that no side's peak memory holds it)."""
    import translate as bench_translate

    shared = args.work.parent / "translate-setup"
    corpus = shared / "corpus.parquet"
    if not corpus.exists():
        bench_translate.write_corpus(corpus, args.sentences, 13)
    model, _ = bench_translate.build_nllb_style(shared / "nllb-style", args.nllb_size, "de")
    return corpus, model


def child_translate_setup(args: argparse.Namespace) -> dict:
    from mwalign.translate.convert import convert_model, converted_dir

    corpus, model = translate_setup(args)
    os.chdir(model.parent)  # converted models live under resources/ctranslate2/ there
    convert_model(model_id=str(model), model_dir=model, out_dir=converted_dir(str(model)))
    return {"corpus": str(corpus), "model": str(model)}


def translate_settings(args: argparse.Namespace, model: Path, backend: str) -> dict:
    # every row cut at new_tokens: ceil(ratio * length + extra) with a negligible ratio
    settings = {"model": str(model), "family": "nllb", "max_new_tokens_ratio": 1e-9,
                "max_new_tokens_extra": args.new_tokens - 1}  # fmt: skip
    settings |= {"dtype": "float32"} if backend == "transformers" else {"compute_type": "float32"}
    return settings


def child_translate_project(args: argparse.Namespace, backend: str) -> dict:
    import torch
    import translate as bench_translate

    torch.set_num_threads(args.threads)
    corpus, model = translate_setup(args)
    os.chdir(model.parent)  # where translate-setup converted it for ctranslate2
    cfg = {"backend": backend, "shard_size": args.sentences,
           backend: translate_settings(args, model, backend)}  # fmt: skip
    shard_args = argparse.Namespace(lang="de", seed=13, reuse=False, model=str(model))
    stats = bench_translate.run_shard(
        shard_args, corpus, bench_translate.filled_params(shard_args, cfg), backend, args.work
    )
    return {
        "sentences_per_second": stats["sentences_per_second"],
        "translate_seconds": stats["translate_seconds"],
        "generated_tokens": stats["generated_tokens"],
        "texts": stats["texts"],
        "peak_rss_mb": peak_rss_mb(),
    }


def child_translate_plain(args: argparse.Namespace) -> dict:
    """transformers' own generate loop: batches of 16 in input order, greedy, padded."""
    import torch
    from mwalign.files import read_table
    from mwalign.languages import language
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    torch.set_num_threads(args.threads)
    corpus, model_dir = translate_setup(args)
    texts = read_table(corpus).column("text").to_pylist()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSeq2SeqLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    target = tokenizer.convert_tokens_to_ids(language("de").flores)
    started, outputs = time.perf_counter(), []
    with torch.inference_mode():
        for start in range(0, len(texts), 16):
            batch = tokenizer(texts[start : start + 16], return_tensors="pt", padding=True)
            generated = model.generate(
                **batch, max_new_tokens=args.new_tokens, num_beams=1, do_sample=False,
                forced_bos_token_id=target, forced_eos_token_id=None,
            )  # fmt: skip
            outputs += tokenizer.batch_decode(generated, skip_special_tokens=True)
    seconds = time.perf_counter() - started
    return {
        "sentences_per_second": round(len(texts) / seconds, 2),
        "translate_seconds": round(seconds, 2),
        "texts": [text.strip() for text in outputs],
        "peak_rss_mb": peak_rss_mb(),
    }


def part_translate(args: argparse.Namespace, work: Path) -> dict:
    run_child(args, "translate-setup", work)
    plain = run_child(args, "translate-plain", work)
    runs = {"transformers generate, batches of 16 (fp32)": plain}
    for backend in ("transformers", "ctranslate2"):
        runs[f"{backend} backend (fp32)"] = run_child(args, f"translate-project-{backend}", work)
    for run in runs.values():
        same = sum(a == b for a, b in zip(run["texts"], plain["texts"], strict=True))
        run["identical_to_plain"] = f"{same}/{len(plain['texts'])}"
        run["ratio_sentences_per_second"] = round(
            run["sentences_per_second"] / plain["sentences_per_second"], 2
        )
    for run in runs.values():
        run.pop("texts")
    return runs


# -- driver --------------------------------------------------------------------------------

CHILDREN = {
    "evaluate-plain": child_evaluate_plain,
    "train-plain": child_train_plain,
    "train-project": child_train_project,
    "translate-setup": child_translate_setup,
    "translate-plain": child_translate_plain,
}


def run_child(args: argparse.Namespace, name: str, work: Path) -> dict:
    """Run the side ``name`` in a process of its own; its result dict."""
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, __file__, "--child", name, "--work", str(folder)]
    for option in ("model", "threads", "precision", "eval_size", "steps", "batch_ids",
                   "sentences", "new_tokens", "nllb_size"):  # fmt: skip
        command += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "workflow"), str(ROOT / "bench")]),
    }
    log.info("running %s", name)
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{done.stderr[-4000:]}")
    return json.loads((folder / "result.json").read_text())


def child(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    name = args.child
    if name.startswith("evaluate-project-"):
        result = child_evaluate_project(args, name.removeprefix("evaluate-project-"))
    elif name.startswith("translate-project-"):
        result = child_translate_project(args, name.removeprefix("translate-project-"))
    else:
        result = CHILDREN[name](args)
    (args.work / "result.json").write_text(json.dumps(result, default=str))


def table(results: dict) -> list[str]:
    lines = [
        "| part | run | sentences/s | ratio to the plain library | other |",
        "|---|---|---|---|---|",
    ]
    for part, runs in results.items():
        for name, run in runs.items():
            other = {k: run[k] for k in ("largest_f1_difference_x100", "peak_rss_mb",
                     "identical_to_plain", "wall_s", "precision") if k in run}  # fmt: skip
            ratio = run.get("ratio_sentences_per_second", 1.0)
            lines.append(f"| {part} | {name} | {run['sentences_per_second']} | {ratio} | {other} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.child:
        child(args)
        return
    if {"evaluate", "train"} & set(args.part) and not (args.model / "modules.json").is_file():
        raise SystemExit(
            f"--model {args.model} is not a sentence-transformers folder: run `snakemake "
            "--cores 2 fetch_model` (or the default experiment) first, or name one"
        )
    machine = describe()
    results = {}
    with tempfile.TemporaryDirectory(prefix="peers-") as tmp:
        parts = {"evaluate": part_evaluate, "train": part_train, "translate": part_translate}
        for part in args.part:
            results[part] = parts[part](args, Path(tmp))
    machine["load_average_after"] = [round(load, 2) for load in os.getloadavg()]
    summary = {"machine": machine, "settings": {k: str(v) for k, v in vars(args).items()},
               "results": results}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    for line in table(results):
        log.info(line)
    log.info("machine: %s; load %s -> %s; wrote %s", machine["cpu_model"],
             machine["load_average"], machine["load_average_after"], args.out)  # fmt: skip


if __name__ == "__main__":
    main()
