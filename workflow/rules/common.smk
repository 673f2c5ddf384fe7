# Shared helpers: config validation at parse time, names and paths derived from config.
import os
import re
import sys

from snakemake.exceptions import WorkflowError

sys.path.insert(0, os.path.join(workflow.basedir, "workflow"))

from mwalign.runner import point_caches_into

# Hugging Face and mteb caches inside the project tree, set before anything imports them.
point_caches_into(".")

from mwalign import plan
from mwalign.config import validate_config
from mwalign.paths import SOURCE_LANGUAGE
from mwalign.schedule import PRIORITY, job_threads, machine_has_gpu

validate_config(config)

PLAN = plan.make_plan(config)
LANGUAGES = PLAN.languages
SHARDS = PLAN.shards
TEACHER = PLAN.teacher
RUNS = PLAN.train_jobs  # a run's name, or {run}-seed{k} for runs with several seeds
BASE_MODELS = PLAN.base_models
EVAL_MODELS = PLAN.eval_models
TASKS = PLAN.tasks
MODEL_IDS = PLAN.model_ids


def planned_cores():
    """``--cores`` of this run; None where it is not given (a cluster executor, a dry run)."""
    try:
        return workflow.cores
    except WorkflowError:
        return None


# Threads and priorities: the critical path first, no idle cores (see mwalign.schedule).
WHOLE_MACHINE = job_threads(cores=planned_cores())
RUN_EVAL_THREADS = job_threads(cores=planned_cores(), side_by_side=len(RUNS) * len(TASKS) or 1)
TEACHER_PRIORITY = PRIORITY[
    "train" if any(plan.train_params(config, run)["teacher"] for run in RUNS) else "teacher"
]
# 1 where a job can use a GPU and the machine has one; a cluster profile sets it per rule.
GPU = int(machine_has_gpu())


wildcard_constraints:
    lang="|".join(LANGUAGES),
    shard=r"\d+",
    slug="|".join(map(re.escape, MODEL_IDS)),
    run="|".join(map(re.escape, RUNS)),
    model="|".join(map(re.escape, EVAL_MODELS)),
    task="|".join(map(re.escape, TASKS)),


def canonical(value):
    """``value`` with dict keys sorted at every level.

    Snakemake compares params by their text, so without this a config whose keys were
    merely reordered would look changed and rerun every job.
    """
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


def eval_threads(wildcards):
    """A base model's evaluation takes the whole machine; trained models' share it."""
    return WHOLE_MACHINE if wildcards.model in BASE_MODELS else RUN_EVAL_THREADS


def eval_priority(wildcards):
    return PRIORITY["evaluate_base" if wildcards.model in BASE_MODELS else "evaluate_run"]


def student_dir(student):
    return plan.model_dir(config["students"][student]["model"])


def eval_model_dir(model):
    """Folder of a model to evaluate: a base student's or a trained run's."""
    if model in BASE_MODELS:
        return student_dir(BASE_MODELS[model])
    return f"results/models/{model}"


def translation_shards(lang):
    return [f"results/translations/{lang}/{shard}.parquet" for shard in SHARDS]


def translation_stats(lang):
    return [f"results/translations/{lang}/{shard}.stats.json" for shard in SHARDS]


def corpus_file_input(wildcards):
    """The corpus file when corpus.source is file, so that editing it reruns sample."""
    corpus = config["corpus"]
    return [corpus["file"]["path"]] if corpus["source"] == "file" else []


def uses_gpu(backend):
    return 1 if backend in ("transformers", "vllm") else 0


def translate_env(backend):
    """The conda env of a translation backend: vLLM, CUDA torch, or CPU only (reference)."""
    env = {"vllm": "vllm", "transformers": "gpu"}.get(backend, "cpu")
    return f"../../envs/{env}.yaml"


def teacher_extra_inputs(wildcards):
    """The multi-way dataset only when the teacher also embeds target languages."""
    if set(config["teacher"]["languages"]) - {SOURCE_LANGUAGE}:
        return {"multiway": rules.assemble.output.multiway}
    return {}


def train_inputs(wildcards):
    params = plan.train_params(config, wildcards.run)
    inputs = {
        "dataset": f"results/dataset/{params['data']}.parquet",
        "student": student_dir(params["student"]["name"]),
    }
    if params["teacher"]:
        inputs["teacher"] = rules.teacher.output.embeddings
    return inputs
