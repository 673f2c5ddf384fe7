"""Evaluation encoders compared: sentence-transformers' torch, ONNX Runtime and OpenVINO
backends (fp32, and their int8 variants), on the default experiment's bitext task.

Three steps, so that each backend can run in the virtualenv it needs (optimum-onnx and
optimum-intel pin other transformers versions than the project's):

1. ``texts`` (project venv): the evaluation pool's sentences (every column, prefix
   added) and the truncation length, exactly as the evaluate stage builds them for the
   base student, into ``OUT/texts.json``.
2. ``encode`` (any venv with sentence-transformers; imports nothing from the project
   except for ``torch-onednn``): embeds them with one backend, on ``--threads``
   threads, timing the encode; writes ``OUT/{variant}.npy`` and ``OUT/{variant}.json``
   (sentences/s, versions, CPU).
3. ``score`` (project venv): runs the project's BibleBitextMining task through mteb on
   every variant's stored embeddings, and prints sentences/s and, per language, the
   F1 x 100 (both directions averaged) and its difference to torch fp32.

    python bench/backends.py texts --size 200 --out bench/results/backends
    python bench/backends.py encode --variant torch-fp32 --model MODEL --out ...
    /tmp/venv-onnx/bin/python bench/backends.py encode --variant onnx-fp32 --model MODEL ...
    python bench/backends.py score --out bench/results/backends

MODEL is a sentence-transformers folder, e.g. resources/models/intfloat--multilingual-e5-small.
The two other virtualenvs (torch from the same CPU wheel; OpenVINO's package pulls a
torchvision that does not match it, and nothing here needs one):

    python -m venv /tmp/venv-onnx && /tmp/venv-onnx/bin/pip install -c constraints.txt \
        "sentence-transformers[onnx]"
    python -m venv /tmp/venv-ov && /tmp/venv-ov/bin/pip install -c constraints.txt \
        "sentence-transformers[openvino]" && /tmp/venv-ov/bin/pip uninstall -y torchvision

Variants: torch-fp32 (the BLAS), torch-onednn (fp32, every linear layer on oneDNN, as
mwalign.cpu_kernels runs them where its probe finds that faster), torch-bf16
(autocast), onnx-fp32, onnx-int8 (dynamic quantisation, avx512_vnni), openvino-fp32,
openvino-int8 (weights only, nncf).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
from machine import cpu_info

log = logging.getLogger("bench.backends")
ROOT = Path(__file__).resolve().parents[1]
VARIANTS = (
    "torch-fp32",
    "torch-onednn",
    "torch-bf16",
    "onnx-fp32",
    "onnx-int8",
    "openvino-fp32",
    "openvino-int8",
)
# sentence-transformers < 6 names its modules differently in modules.json
ST5_MODULES = {
    "Transformer": "sentence_transformers.models.Transformer",
    "Pooling": "sentence_transformers.models.Pooling",
    "Normalize": "sentence_transformers.models.Normalize",
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("step", choices=["texts", "encode", "score"])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "backends")
    parser.add_argument("--config", type=Path, default=ROOT / "config.yaml")
    parser.add_argument("--size", type=int, default=None, help="pool size (default: config's)")
    parser.add_argument("--model", type=Path, help="sentence-transformers folder (encode)")
    parser.add_argument("--variant", choices=VARIANTS, help="encode: backend-precision")
    parser.add_argument("--threads", type=int, default=1, help="as the evaluate rule (1)")
    parser.add_argument("--batch-size", type=int, default=32)
    return parser.parse_args()


def experiment_params(args: argparse.Namespace) -> dict:
    import yaml
    from mwalign.config import apply_schema
    from mwalign.evaluate.params import evaluate_params

    config = apply_schema(yaml.safe_load(args.config.read_text()))
    if args.size:
        config["evaluate"]["bible"]["size"] = args.size
    student = next(iter(config["students"]))
    return evaluate_params(config, f"base-{student}", "BibleBitextMining")


def write_texts(args: argparse.Namespace) -> None:
    from mwalign.evaluate.bible_tasks import _pool

    params = experiment_params(args)
    pool = _pool(params)
    columns = ["en", *params["languages"], *params["unseen_languages"]]
    student = params["student"]  # a base student's prefix and truncation, as evaluated
    texts = sorted({student["prefix"] + text for code in columns for text in pool[code]})
    args.out.mkdir(parents=True, exist_ok=True)
    stored = {"params": params, "max_seq_length": student["max_seq_length"], "texts": texts}
    (args.out / "texts.json").write_text(json.dumps(stored))
    log.info("%d distinct sentences of %d columns -> %s", len(texts), len(columns), args.out)


def st5_copy(model: Path, work: Path) -> Path:
    """A copy of ``model`` whose modules.json names sentence-transformers 5 classes."""
    target = work / f"{model.name}-st5"
    if not target.exists():
        shutil.copytree(model, target)
        modules = json.loads((target / "modules.json").read_text())
        for module in modules:
            module["type"] = ST5_MODULES[module["type"].rsplit(".", 1)[1]]
        (target / "modules.json").write_text(json.dumps(modules, indent=2))
    return target


def runtime_kwargs(backend: str, threads: int) -> dict:
    """``model_kwargs`` that give ONNX Runtime / OpenVINO ``threads`` threads (the job's)."""
    if backend == "onnx":
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        return {"provider": "CPUExecutionProvider", "session_options": options}
    if backend == "openvino":
        # fp32 inference: OpenVINO's CPU plugin defaults to bf16 on CPUs with AMX
        config = {"INFERENCE_NUM_THREADS": str(threads), "INFERENCE_PRECISION_HINT": "f32"}
        return {"ov_config": config}
    return {}


def load_variant(variant: str, model: Path, work: Path, threads: int):
    """The model under ``variant``, exported (and quantised) once into ``work``."""
    import sentence_transformers as st

    backend, precision = variant.split("-")
    if int(st.__version__.split(".")[0]) < 6:
        model = st5_copy(model, work)
    if backend == "torch":
        encoder = st.SentenceTransformer(str(model), device="cpu")
        if precision == "onednn":  # project venv only
            from mwalign.cpu_kernels import linear_layers, use_kernels

            use_kernels(linear_layers(encoder), "onednn")
        return encoder
    exported = work / f"{model.name}-{backend}"
    if not exported.exists():
        start = time.perf_counter()
        encoder = st.SentenceTransformer(str(model), device="cpu", backend=backend)
        encoder.save_pretrained(str(exported))
        log.info("exported %s in %.1f s", backend, time.perf_counter() - start)
    kwargs = runtime_kwargs(backend, threads)
    if precision == "int8":
        if backend == "onnx":
            from sentence_transformers import export_dynamic_quantized_onnx_model

            name = "model_qint8_avx512_vnni.onnx"
            if not (exported / "onnx" / name).exists():
                export_dynamic_quantized_onnx_model(
                    st.SentenceTransformer(str(exported), backend="onnx"),
                    "avx512_vnni",
                    str(exported),
                )
            kwargs["file_name"] = f"onnx/{name}"
        else:
            from optimum.intel import OVWeightQuantizationConfig
            from sentence_transformers import export_static_quantized_openvino_model  # noqa: F401

            quantised = work / f"{model.name}-openvino-int8"
            if not quantised.exists():
                encoder = st.SentenceTransformer(
                    str(exported),
                    backend="openvino",
                    model_kwargs={"quantization_config": OVWeightQuantizationConfig(bits=8)},
                )
                encoder.save_pretrained(str(quantised))
            exported = quantised
    return st.SentenceTransformer(str(exported), device="cpu", backend=backend, model_kwargs=kwargs)


def encode(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    stored = json.loads((args.out / "texts.json").read_text())
    texts = stored["texts"]
    work = args.out / "models"
    work.mkdir(parents=True, exist_ok=True)
    encoder = load_variant(args.variant, args.model.resolve(), work, args.threads)
    encoder.max_seq_length = stored["max_seq_length"]
    encoder.encode(texts[:64], batch_size=args.batch_size)  # warm-up
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.variant == "torch-bf16")
    start, cpu = time.perf_counter(), time.process_time()
    with autocast:
        vectors = encoder.encode(texts, batch_size=args.batch_size, convert_to_numpy=True)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    np.save(args.out / f"{args.variant}.npy", np.asarray(vectors, dtype=np.float32))
    packages = ("torch", "transformers", "sentence-transformers", "optimum", "optimum-onnx")
    packages += ("optimum-intel", "onnxruntime", "openvino")
    info = {
        "variant": args.variant,
        "sentences": len(texts),
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "sentences_per_second": round(len(texts) / seconds, 1),
        "threads": args.threads,
        "batch_size": args.batch_size,
        "cpu": cpu_info()[0],
        "versions": {name: _version(name) for name in packages},
    }
    (args.out / f"{args.variant}.json").write_text(json.dumps(info, indent=2))
    log.info("%s", info)


def _version(name: str) -> str | None:
    try:
        return version(name)
    except Exception:  # noqa: BLE001 - absent package
        return None


def scores_of(variant: str, args: argparse.Namespace, stored: dict) -> dict[str, float]:
    """Main score per mteb subset of BibleBitextMining on ``variant``'s embeddings."""
    import mteb
    from mwalign.evaluate.bible_tasks import BibleBitextMining
    from mwalign.evaluate.caches import text_key
    from mwalign.evaluate.encoder import CachedSentenceEncoder
    from mwalign.precision import Precision

    def no_model():
        raise RuntimeError(f"{variant}: a sentence is missing from the stored embeddings")

    encoder = CachedSentenceEncoder(
        loader=no_model,
        name=f"bench/{variant}",
        revision=variant,
        prompt=stored["params"]["student"]["prefix"],  # the stored texts carry it
        precision=Precision("fp32", "stored embeddings"),
    )
    vectors = np.load(args.out / f"{variant}.npy")
    encoder._memory.update(zip(map(text_key, stored["texts"]), vectors, strict=True))
    result = mteb.evaluate(
        encoder,
        BibleBitextMining(stored["params"]),
        cache=None,
        overwrite_strategy="always",
        co2_tracker=False,
    )
    entries = result.task_results[0].scores["test"]
    return {entry["hf_subset"]: 100 * entry["main_score"] for entry in entries}


def language_scores(subsets: dict[str, float]) -> dict[str, float]:
    """Per non-English language: both directions' scores averaged."""
    by_language: dict[str, list[float]] = {}
    for subset, score in subsets.items():
        other = next(code for code in subset.split("-") if code != "eng_Latn")
        by_language.setdefault(other, []).append(score)
    return {code: float(np.mean(values)) for code, values in sorted(by_language.items())}


def score(args: argparse.Namespace) -> None:
    stored = json.loads((args.out / "texts.json").read_text())
    found = [v for v in VARIANTS if (args.out / f"{v}.npy").exists()]
    results = {}
    for variant in found:
        info = json.loads((args.out / f"{variant}.json").read_text())
        results[variant] = {**info, "scores": language_scores(scores_of(variant, args, stored))}
    reference = results["torch-fp32"]["scores"]
    lines = [
        f"pool: {stored['params']['bible']['size']} verses x {len(reference)} languages "
        f"(both directions), {len(stored['texts'])} distinct sentences; "
        f"CPU {results['torch-fp32']['cpu']}",
        "| variant | sentences/s (wall) | sentences per CPU-second | vs torch-fp32 | "
        "max abs diff to torch-fp32 | worst language |",
        "|---|---|---|---|---|---|",
    ]
    # per CPU-second: comparable on a shared machine, where wall time is not
    base_speed = results["torch-fp32"]["sentences"] / results["torch-fp32"]["cpu_seconds"]
    for variant, entry in results.items():
        diffs = {code: entry["scores"][code] - reference[code] for code in reference}
        worst = max(diffs, key=lambda code: abs(diffs[code]))
        entry["diff_to_torch_fp32"] = diffs
        per_cpu = entry["sentences"] / entry["cpu_seconds"]
        lines.append(
            f"| {variant} | {entry['sentences_per_second']} | {per_cpu:.1f} | "
            f"{per_cpu / base_speed:.2f}x | {abs(diffs[worst]):.2f} | "
            f"{worst} ({diffs[worst]:+.2f}) |"
        )
    (args.out / "summary.json").write_text(json.dumps(results, indent=2))
    print("\n".join(lines))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = parse_args()
    {"texts": write_texts, "encode": encode, "score": score}[args.step](args)


if __name__ == "__main__":
    main()
