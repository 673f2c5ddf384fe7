"""What one evaluate job costs before it evaluates anything, on this machine.

Every evaluation is a process of its own (a rule's ``script:``), also inside a group job
on a cluster, where each job of the group is in addition a Snakemake process that parses
the workflow (snakemake-executor-plugin-slurm runs each job of a group through
``srun python -m snakemake --target-jobs ...``). Each part is timed in fresh processes
(median of ``--repeats``; the file cache is warm after the first), wall and CPU seconds:

- interpreter: ``python -c pass``;
- imports: the modules an evaluation job imports before its first sentence (snakemake's
  script preamble, torch, sentence-transformers, mteb, the evaluate stage), minus the
  interpreter;
- fingerprint: ``build_encoder``, which hashes the model folder (the embedding cache's
  key) before anything is loaded;
- model load: the evaluation's own loader (``encoder.model``: the folder's modules, its
  prefix and length, pooling, precision, and on an fp32 CPU the kernel probe), in the
  process that did the imports;
- snakemake job process: the Snakemake process a cluster job runs for one evaluation
  (``--mode remote --target-jobs evaluate:...``, a dry run: parse, DAG, no job), minus
  the interpreter.

    python bench/job_startup.py --model resources/models/intfloat--multilingual-e5-small

Writes results/bench/job_startup.json with the machine (bench/machine.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("bench.job_startup")

IMPORTS = """
import sys, time
sys.path.insert(0, {workflow!r})
start = time.perf_counter()
import snakemake.script  # the script preamble unpickles the job's snakemake object
import torch, sentence_transformers, mteb
from mwalign.evaluate.run import build_encoder, evaluate_model
from mwalign.evaluate.encoder import CachedSentenceEncoder
print("IMPORTS", time.perf_counter() - start)
"""

MODEL_LOAD = """
from mwalign.evaluate.run import encoder_params
params = encoder_params(
    precision={precision!r}, prefix="query: ", max_seq_length=64, pooling=None, name="e5"
)
torch.set_num_threads({threads})
start = time.perf_counter()
encoder = build_encoder({model!r}, params, cache_dir=None)
print("FINGERPRINT", time.perf_counter() - start)
start = time.perf_counter()
model = encoder.model
print("MODEL_LOAD", time.perf_counter() - start)
"""


def timed(command: list[str], cwd: Path | None = None) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the child, its stdout) of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"{command[:4]} failed:\n{result.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, result.stdout


def marker(stdout: str, name: str) -> float:
    """The seconds a child printed after ``name``."""
    for line in stdout.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise RuntimeError(f"no {name} line in:\n{stdout[-2000:]}")


def remote_job_command(workdir: Path) -> list[str]:
    """The Snakemake process of one evaluation as a cluster job runs it (a dry run)."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        "--target-jobs",
        "evaluate:model=base-e5-small,task=BibleBitextMining",
        "--allowed-rules",
        "evaluate",
        "--mode",
        "remote",
        "--cores",
        "2",
        "--dry-run",
        "--quiet",
    ]


def measure(args: argparse.Namespace) -> dict:
    python = [sys.executable, "-c"]
    workflow = str(ROOT / "workflow")
    runs: dict[str, list[tuple[float, float]]] = {
        key: [] for key in ("interpreter", "imports", "fingerprint", "model_load", "snakemake_job")
    }
    script = IMPORTS.format(workflow=workflow)
    load = MODEL_LOAD.format(
        model=str(args.model.resolve()), precision=args.precision, threads=args.threads
    )
    with tempfile.TemporaryDirectory(prefix="job-startup-") as tmp:
        workdir = Path(tmp)
        shutil.copy(ROOT / "config.yaml", workdir / "config.yaml")
        for repeat in range(args.repeats):
            log.info("repeat %d of %d", repeat + 1, args.repeats)
            wall, cpu, _ = timed([*python, "pass"])
            runs["interpreter"].append((wall, cpu))
            wall, cpu, out = timed([*python, script])
            runs["imports"].append((wall - runs["interpreter"][-1][0], cpu))
            wall, cpu, out = timed([*python, script + load])
            runs["fingerprint"].append((marker(out, "FINGERPRINT"), cpu))
            runs["model_load"].append((marker(out, "MODEL_LOAD"), cpu))
            wall, cpu, _ = timed(remote_job_command(workdir), cwd=workdir)
            runs["snakemake_job"].append((wall - runs["interpreter"][-1][0], cpu))
    return {
        key: {
            "wall_s": round(statistics.median(w for w, _ in values), 2),
            "cpu_s_of_process": round(statistics.median(c for _, c in values), 2),
            "runs_wall_s": [round(w, 2) for w, _ in values],
        }
        for key, values in runs.items()
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=Path("resources/models/intfloat--multilingual-e5-small"),
        help="a sentence-transformers folder (default: the default experiment's student)",
    )
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench" / "job_startup.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not (args.model / "modules.json").is_file():
        parser.error(f"--model {args.model} is not a sentence-transformers folder")
    machine = describe()
    parts = measure(args)
    total = sum(
        parts[key]["wall_s"] for key in ("interpreter", "imports", "fingerprint", "model_load")
    )
    summary = {
        "machine": machine,
        "model": str(args.model),
        "precision": args.precision,
        "threads": args.threads,
        "parts": parts,
        "job_start_wall_s": round(total, 2),
        "job_start_in_group_wall_s": round(total + parts["snakemake_job"]["wall_s"], 2),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    log.info("| part | wall s (median of %d) | runs |", args.repeats)
    log.info("|---|---|---|")
    for key, value in parts.items():
        log.info("| %s | %.2f | %s |", key, value["wall_s"], value["runs_wall_s"])
    in_group = total + parts["snakemake_job"]["wall_s"]
    log.info("one evaluate job starts in %.2f s (python, imports, fingerprint, model)", total)
    log.info("inside a group job on SLURM, with its Snakemake process: %.2f s", in_group)
    load = machine["load_average"]
    log.info("machine: %s, load %s; wrote %s", machine["cpu_model"], load, args.out)


if __name__ == "__main__":
    main()
